//! Every misuse of `#[derive(Gapless)]` is a compile error at the user's tokens.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
