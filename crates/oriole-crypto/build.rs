//! Says so when the build lost `.cargo/config.toml`'s `--cfg
//! poly1305_force_soft`. A `RUSTFLAGS` variable (or `build.rustflags`
//! elsewhere) replaces that file's flags instead of adding to them, and
//! Poly1305 then silently takes its AVX2 backend, whose per-call set-up
//! costs about three times a whole seal of a short field
//! (docs/benchmarks.md, "Sealing, thirteenth pass"). Still correct, only
//! slower, so a warning and not an error.

fn main() {
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    println!("cargo::rustc-check-cfg=cfg(poly1305_force_soft)");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let flags: Vec<&str> = flags.split('\x1f').collect();
    let soft = flags.contains(&"--cfg=poly1305_force_soft")
        || flags
            .windows(2)
            .any(|pair| pair == ["--cfg", "poly1305_force_soft"]);
    if !soft {
        println!(
            "cargo::warning=built without `--cfg poly1305_force_soft` (RUSTFLAGS replaces \
             .cargo/config.toml's rustflags): sealing short fields takes Poly1305's slower \
             AVX2 path; add the flag to RUSTFLAGS to keep the portable one"
        );
    }
}
