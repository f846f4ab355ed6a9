//! Gives a crate's binaries and test binaries an rpath to libtorch (torch-sys adds none), and forces
//! `libtorch_cuda` to load when the full CUDA wheel is installed (rustc links with `--as-needed`).
//!
//! The one build script of every crate that links libtorch: their `Cargo.toml`s point `build` here.
//! Each of them depends on `torch-sys` directly, which is what makes `DEP_TCH_LIBTORCH_LIB` visible.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        let cudnn = std::path::Path::new(&lib).join("../../nvidia/cudnn");
        if cudnn.exists() && std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
