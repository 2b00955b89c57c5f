//! Every misuse of `#[gen_server]` in `tests/ui/` fails to compile with the error in
//! its `.stderr`, underlining the user's own token.

#[test]
fn misuses_fail_at_the_users_token() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
