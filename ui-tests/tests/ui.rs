//! Every misuse of `#[gen_server]` in `tests/ui/` fails to compile with the error in
//! its `.stderr`, underlining the user's own token. The misuses of
//! `#[gen_server(remote)]` are in `tests/ui-remote/`, run with this crate's
//! `remote` feature (gensrv's); `tests/ui-no-remote/` holds what fails without
//! it, run without it. (trybuild builds the cases with this crate's features.)

#[test]
fn misuses_fail_at_the_users_token() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
    #[cfg(feature = "remote")]
    cases.compile_fail("tests/ui-remote/*.rs");
    #[cfg(not(feature = "remote"))]
    cases.compile_fail("tests/ui-no-remote/*.rs");
}
