//! Drawing samples from any denoiser with the sampler of PAPER.md §4 (gahb-diffusion `sample`), in
//! chunks that bound the sampler's memory, with the numbers a report states about a run: how many
//! samples stopped before σ_L, and their mean number of steps.

use anyhow::Result;
use gahb_diffusion::{sample, SamplerConfig, StopReason};
use gahb_tensor::convert::tensor_to_array;
use gahb_tensor::Denoiser;
use ndarray::{Array3, Ix3};
use tch::{Device, Tensor};

/// A batch of samples and how the runs ended.
#[derive(Debug)]
pub struct Drawn {
    /// The samples x̂, `[n, c, h, w]` f32 on the CPU.
    pub samples: Tensor,
    /// How many runs stopped before reaching σ_L (step limit or divergence).
    pub unfinished: usize,
    /// The mean number of steps per sample.
    pub mean_steps: f64,
}

impl Drawn {
    /// The samples as `[n, h, w]` images (one channel).
    pub fn images(&self) -> Result<Array3<f32>> {
        let size = self.samples.size();
        anyhow::ensure!(
            size.len() == 4 && size[1] == 1,
            "samples of shape {size:?} are not one-channel [n, 1, h, w] images"
        );
        let flat = self.samples.f_reshape([size[0], size[2], size[3]])?;
        Ok(tensor_to_array::<Ix3>(&flat)?)
    }
}

/// `n_samples` samples of `denoiser` (`image_shape` = `[c, h, w]`) drawn `chunk` at a time; the
/// same samples as one call, since sample i always uses noise stream `first_sample_index + i`.
pub fn draw<D: Denoiser + ?Sized>(
    denoiser: &D,
    config: &SamplerConfig,
    n_samples: usize,
    image_shape: [i64; 3],
    chunk: usize,
) -> Result<Drawn> {
    anyhow::ensure!(n_samples > 0, "draw: asked for 0 samples");
    let mut parts = Vec::new();
    let (mut unfinished, mut steps) = (0usize, 0usize);
    let mut start = 0;
    while start < n_samples {
        let len = chunk.max(1).min(n_samples - start);
        let cfg = SamplerConfig {
            first_sample_index: config.first_sample_index + start as u64,
            ..config.clone()
        };
        let run = sample(denoiser, &cfg, len, image_shape)?;
        unfinished += run
            .traces
            .iter()
            .filter(|t| t.stop != StopReason::Converged)
            .count();
        steps += run.traces.iter().map(|t| t.steps).sum::<usize>();
        parts.push(run.samples.to_device(Device::Cpu));
        start += len;
    }
    Ok(Drawn {
        samples: Tensor::f_cat(&parts, 0)?,
        unfinished,
        mean_steps: steps as f64 / n_samples as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gahb_diffusion::{InitMean, NoiseLevel, SpectralWiener};
    use gahb_synth::{GaussianField, GaussianFieldConfig};

    fn wiener() -> SpectralWiener {
        let field = GaussianField::new(&GaussianFieldConfig::power_law(8)).expect("valid");
        SpectralWiener::new(
            field.spectrum().view(),
            field.mean(),
            NoiseLevel::Blind { sigma_max: 1.0 },
            Device::Cpu,
        )
        .expect("valid")
    }

    #[test]
    fn chunks_draw_the_same_samples_as_one_call() {
        let f = wiener();
        let cfg = SamplerConfig {
            h0: 0.05,
            init_mean: InitMean::Zero,
            seed: 3,
            ..SamplerConfig::default()
        };
        let one = draw(&f, &cfg, 5, [1, 8, 8], 5).expect("draw");
        let chunked = draw(&f, &cfg, 5, [1, 8, 8], 2).expect("draw");
        assert_eq!(one.samples.size(), vec![5, 1, 8, 8]);
        let diff = (&one.samples - &chunked.samples)
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-6, "chunked samples differ by {diff}");
        assert_eq!(one.unfinished, chunked.unfinished);
        assert!((one.mean_steps - chunked.mean_steps).abs() < 1e-9);
        assert!(one.mean_steps > 1.0);
        assert_eq!(one.images().expect("images").dim(), (5, 8, 8));
    }

    #[test]
    fn zero_samples_is_an_error() {
        let err = draw(&wiener(), &SamplerConfig::default(), 0, [1, 8, 8], 4).expect_err("0");
        assert!(err.to_string().contains("0 samples"), "{err}");
    }
}
