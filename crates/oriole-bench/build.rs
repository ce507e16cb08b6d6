// `oriole-bench index-pages` compiles in the store's migrations
// (`sqlx::migrate!`), which cannot tell Cargo to rebuild when they change.
fn main() {
    println!("cargo:rerun-if-changed=../oriole-store-sqlite/migrations");
}
