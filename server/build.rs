// `sqlx::migrate!` embeds the migrations when the crate compiles; a new or changed migration
// must recompile it, or a dev build would run yesterday's schema.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
