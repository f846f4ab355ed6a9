//! Fig. 21 (paper §8): shuffled faces. One fixed pixel permutation applied to every face leaves the
//! optimal MSE unchanged but destroys the geometry the UNet's inductive bias relies on: the shuffled
//! model denoises worse, its eigenvalues decay more slowly, and its eigenvectors (shown after the
//! inverse permutation) are noisy.

use anyhow::{Context, Result};
use gahb_denoiser::{ModelConfig, PsnrRow};
use gahb_plot::{line_plot_png, Panel, Series};
use gahb_synth::PixelPermutation;
use ndarray::{s, Array3};
use serde::{Deserialize, Serialize};

use crate::experiments::spectrum_route::{convergence_check, route_table};
use crate::harness::{Experiment, Page};
use crate::lab::context::Lab;
use crate::lab::data::DataSpec;
use crate::lab::eval::{mean_gap, paper_sigmas, points, psnr_curve, top};
use crate::lab::job::{Job, ModelJob};
use crate::lab::recipe::{describe_model, TrainSpec};
use crate::lab::seed::derive_seed;
use crate::lab::spectral::{analyse, draw, RouteSpec, Shown, Spectrum};
use crate::report::check::{Cmp, Num};
use crate::report::{Check, Table};

/// `[fig21]` in a profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The faces.
    pub data: DataSpec,
    /// Training images (the first ones); the last `n_test` are held out.
    pub n_train: usize,
    /// Held-out images.
    pub n_test: usize,
    /// The network.
    pub net: ModelConfig,
    /// Training recipe; the profile's `[train]` when absent.
    #[serde(default)]
    pub train: Option<TrainSpec>,
    /// Noise level of the eigen-analysis (0.3 in the paper).
    pub sigma: f64,
    /// Smallest accepted mean output PSNR gap (dB) of faces over shuffled faces.
    pub min_psnr_gap_db: f64,
    /// How the spectrum is taken (dense up to 64×64 unless set).
    #[serde(default)]
    pub jacobian: RouteSpec,
}

/// What Fig. 21 measured.
#[derive(Debug, Serialize)]
pub struct Results {
    /// The seed of the permutation and the models.
    pub seed: u64,
    /// The data's description.
    pub description: String,
    /// Held-out curves, plain and shuffled.
    pub curves: [Vec<PsnrRow>; 2],
    /// The analyses, plain and shuffled.
    pub spectra: [Spectrum; 2],
}

/// Fig. 21.
pub struct Fig21;

/// The two trainings (plain and shuffled faces) and their held-out images.
struct Sets {
    plain: ModelJob,
    shuffled: ModelJob,
    test: Array3<f32>,
    test_sh: Array3<f32>,
    perm: PixelPermutation,
    description: String,
}

fn sets(lab: &Lab, cfg: &Config) -> Result<Sets> {
    let seed = lab.seed_of("fig21");
    let loaded = lab.data(&cfg.data, seed)?;
    let (total, h, w) = loaded.images.dim();
    anyhow::ensure!(
        cfg.n_train + cfg.n_test <= total,
        "fig21: n_train + n_test = {} > {total} images",
        cfg.n_train + cfg.n_test
    );
    let train = loaded.images.slice(s![..cfg.n_train, .., ..]).to_owned();
    let test = loaded
        .images
        .slice(s![total - cfg.n_test.., .., ..])
        .to_owned();
    let perm = PixelPermutation::from_seed(h, w, seed)?;
    let train_sh = perm.apply(train.view())?;
    let test_sh = perm.apply(test.view())?;
    let recipe = lab.recipe(cfg.train.as_ref());
    let plain = lab.job(
        "faces",
        &cfg.net,
        recipe,
        seed,
        train,
        &format!("{} n={}", loaded.description, cfg.n_train),
    )?;
    let shuffled = lab.job(
        "shuffled faces",
        &cfg.net,
        recipe,
        seed,
        train_sh,
        &format!(
            "shuffled {} n={} perm seed {seed}",
            loaded.description, cfg.n_train
        ),
    )?;
    Ok(Sets {
        plain,
        shuffled,
        test,
        test_sh,
        perm,
        description: loaded.description.clone(),
    })
}

impl Experiment for Fig21 {
    const NAME: &'static str = "fig21";
    const WHAT: &'static str = "shuffled faces against faces: PSNR curves and eigenvectors";
    type Config = Config;
    type Results = Results;

    fn validate(cfg: &Config) -> Result<()> {
        anyhow::ensure!(cfg.n_train > 0, "fig21.n_train must be at least 1, got 0");
        anyhow::ensure!(
            cfg.n_test > 0,
            "fig21.n_test must be at least 1 (the held-out images the PSNR curves are measured on), got 0"
        );
        anyhow::ensure!(
            cfg.sigma.is_finite() && cfg.sigma > 0.0,
            "fig21.sigma must be finite and > 0, got {}",
            cfg.sigma
        );
        if let Some(t) = &cfg.train {
            t.to_config(0).context("fig21.train")?;
        }
        cfg.jacobian.validate("fig21")
    }

    fn jobs(lab: &Lab, cfg: &Config) -> Result<Vec<Job>> {
        let sets = sets(lab, cfg)?;
        Ok(vec![Job::Model(sets.plain), Job::Model(sets.shuffled)])
    }

    fn measure(lab: &Lab, cfg: &Config) -> Result<Results> {
        let seed = lab.seed_of("fig21");
        let Sets {
            plain,
            shuffled,
            test,
            test_sh,
            perm,
            description,
        } = sets(lab, cfg)?;
        let plain = lab.train(&plain)?;
        let shuf = lab.train(&shuffled)?;
        let sigmas = paper_sigmas();
        let noise = derive_seed(seed, "test-noise");
        let c_plain = psnr_curve(&plain.model, &test, &sigmas, noise)?;
        let c_shuf = psnr_curve(&shuf.model, &test_sh, &sigmas, noise)?;
        let shown = Shown {
            first: 5,
            step: 12,
            count: 11,
            read: 54,
        };
        let x = test.slice(s![0, .., ..]).to_owned();
        let x_sh = test_sh.slice(s![0, .., ..]).to_owned();
        let jac = derive_seed(seed, "jacobian-noise");
        let route = &cfg.jacobian;
        let sp_plain =
            analyse(&plain.model, &x, cfg.sigma, jac, shown, None, route).context("faces")?;
        let sp_shuf = analyse(
            &shuf.model,
            &x_sh,
            cfg.sigma,
            jac,
            shown,
            Some(&perm),
            route,
        )
        .context("shuffled faces")?;
        Ok(Results {
            seed,
            description,
            curves: [c_plain, c_shuf],
            spectra: [sp_plain, sp_shuf],
        })
    }

    fn present(cfg: &Config, r: &Results, page: &mut Page) -> Result<()> {
        let [c_plain, c_shuf] = &r.curves;
        let [sp_plain, sp_shuf] = &r.spectra;
        draw(page.dir(), "faces", sp_plain)?;
        draw(page.dir(), "shuffled", sp_shuf)?;
        let lam = |v: &[f64], k: usize| v.get(k).copied().unwrap_or(f64::NAN);
        page.title("shuffled faces against faces");
        page.dataset(format!(
            "{}; shuffled with one fixed permutation (seed {})",
            r.description, r.seed
        ));
        page.summary(format!(
            "Two bias-free {} models trained on the same {} faces, plain and pixel-shuffled; λ at σ = {}: faces λ_5 = {:.3}, λ_53 = {:.3}; shuffled λ_5 = {:.3}, λ_53 = {:.3}.",
            describe_model(&cfg.net), cfg.n_train, cfg.sigma, lam(&sp_plain.eigenvalues, 5), lam(&sp_plain.eigenvalues, 53), lam(&sp_shuf.eigenvalues, 5), lam(&sp_shuf.eigenvalues, 53)
        ));
        page.figure("psnr.png", "held-out PSNR curves", |path| {
            Ok(line_plot_png(
                path,
                &[Panel {
                    title: "held-out faces: output against input PSNR".into(),
                    x_label: "input PSNR (dB)".into(),
                    y_label: "output PSNR (dB)".into(),
                    series: vec![
                        Series::new("faces", points(c_plain)),
                        Series::new("shuffled faces", points(c_shuf)),
                        Series::identity(0.0, top(&[c_plain])),
                    ],
                    ..Panel::default()
                }],
                (700, 500),
            )?)
        })?;
        page.listed_figure("faces_spectrum.png", "faces: λ_k and |⟨x, e_k⟩|");
        page.listed_figure("shuffled_spectrum.png", "shuffled: λ_k and |⟨x, e_k⟩|");
        page.listed_figure(
            "faces_eigenvectors.png",
            "faces: eigenvectors e_5, e_17, ...",
        );
        page.listed_figure(
            "shuffled_eigenvectors.png",
            "shuffled: eigenvectors e_5, e_17, ... after the inverse permutation",
        );
        let mut table = Table::new(["input PSNR", "faces", "shuffled"]);
        for (a, b) in c_plain.iter().zip(c_shuf) {
            table.row(vec![
                format!("{:.2}", a.input_psnr),
                format!("{:.2}", a.output_psnr),
                format!("{:.2}", b.output_psnr),
            ]);
        }
        page.table(table, None)?;
        for (tag, sp) in [("faces", sp_plain), ("shuffled faces", sp_shuf)] {
            if let Some(mut check) = convergence_check(sp) {
                check.claim = format!("{tag}: {}", check.claim);
                page.check(check);
            }
            if let Some(t) = route_table(sp, tag) {
                page.table(
                    t,
                    Some(&format!("matrix_free_{}.csv", tag.replace(' ', "_"))),
                )?;
            }
        }
        page.check(Check::compare(
            "shuffled faces are denoised worse: mean output PSNR gap (faces − shuffled)",
            Num::db(mean_gap(c_plain, c_shuf)),
            Cmp::Above(cfg.min_psnr_gap_db),
            "much lower PSNR for shuffled faces",
        ));
        page.check(Check::compare_shown(
            "eigenvalues decay more slowly when shuffled: tr ∇f (shuffled − faces)",
            Num::plain(
                sp_shuf.effective_dimension - sp_plain.effective_dimension,
                1,
            ),
            format!(
                "{:.1} (faces) vs {:.1} (shuffled)",
                sp_plain.effective_dimension, sp_shuf.effective_dimension
            ),
            Cmp::Above(0.0),
            "λ_5 = 1.182 … λ_53 = 0.87 (shuffled, slow decay)",
        ));
        Ok(())
    }
}
