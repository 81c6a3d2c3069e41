//! The `chat` command (to be written).
fn main() {}
