//! The `#[gen_server]` attribute of [gensrv](https://docs.rs/gensrv); use it through
//! that crate, which documents it.
//!
//! One pass per file: `attr` reads attributes, `ast` reads the impl block, `valid`
//! rejects what is wrong, `expand` writes the server (`remote`, what `#[gen_server(remote)]` adds), `fallback` says what to emit
//! when there was an error.

mod ast;
mod attr;
mod expand;
mod fallback;
#[cfg(test)]
mod never_panics;
mod remote;
mod valid;

use proc_macro::TokenStream;
use quote::ToTokens;
use syn::Item;

// Documented where users see it: on `gensrv::gen_server` (its arguments
// `vis = ..`, `send_checks = ..` and `remote` included).
#[proc_macro_attribute]
pub fn gen_server(args: TokenStream, input: TokenStream) -> TokenStream {
    gen_server_tokens(args.into(), input.into()).into()
}

/// The whole macro on `proc_macro2` tokens, so that tests can run it outside the
/// compiler.
fn gen_server_tokens(
    args: proc_macro2::TokenStream,
    input: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let item = match syn::parse2::<Item>(input) {
        Ok(item) => item,
        Err(error) => return error.into_compile_error(),
    };
    let args = match syn::parse2::<attr::Args>(args) {
        Ok(args) => args,
        Err(error) => return error.into_compile_error(),
    };
    gen_server_impl(&args, item)
}

fn gen_server_impl(args: &attr::Args, item: Item) -> proc_macro2::TokenStream {
    let Item::Impl(item) = item else {
        let error = syn::Error::new_spanned(
            item_head(&item),
            "#[gen_server] goes on an impl block: `impl Foo { .. }`",
        );
        let mut tokens = item.into_token_stream();
        tokens.extend(error.into_compile_error());
        return tokens;
    };
    let server = ast::Server::parse(&item);
    match valid::validate(args, &server) {
        Ok(()) => expand::expand(args, &server),
        Err(error) => fallback::emit(args, &item, error),
    }
}

/// What to underline when the macro is on something other than an impl block: the
/// item's keyword and name.
fn item_head(item: &Item) -> proc_macro2::TokenStream {
    use quote::quote;
    match item {
        Item::Struct(s) => {
            let (kw, ident) = (&s.struct_token, &s.ident);
            quote!(#kw #ident)
        }
        Item::Enum(e) => {
            let (kw, ident) = (&e.enum_token, &e.ident);
            quote!(#kw #ident)
        }
        Item::Fn(f) => {
            let (kw, ident) = (&f.sig.fn_token, &f.sig.ident);
            quote!(#kw #ident)
        }
        Item::Trait(t) => {
            let (kw, ident) = (&t.trait_token, &t.ident);
            quote!(#kw #ident)
        }
        Item::Mod(m) => {
            let (kw, ident) = (&m.mod_token, &m.ident);
            quote!(#kw #ident)
        }
        other => other.to_token_stream(),
    }
}
