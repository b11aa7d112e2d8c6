//! Placeholder: being written (issue 6).
fn main() {}
