//! Declares the `brisk_disable_simd` cfg (set it with
//! `RUSTFLAGS="--cfg brisk_disable_simd"` to force the portable SWAR scans).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(brisk_disable_simd)");
}
