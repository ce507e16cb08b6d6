// The migrations are compiled in (`sqlx::migrate!`), which cannot tell
// Cargo to rebuild when one changes or is added: without this, a build
// after editing a migration kept the old schema.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=keys-migrations");
}
