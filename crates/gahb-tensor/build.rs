//! Gives this crate's binaries and test binaries an rpath to libtorch (torch-sys adds none), and forces
//! `libtorch_cuda` to load when the full CUDA wheel is installed (rustc links with `--as-needed`).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-changed=build.rs");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        let cudnn = std::path::Path::new(&lib).join("../../nvidia/cudnn");
        if cudnn.exists() && std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
