//! What to emit when the input is wrong: the user's impl block, without the handler
//! markers (which mean nothing to rustc on their own), next to the errors. The rest
//! of the crate still sees the type's methods, so no cascade of errors follows.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ImplItem, ItemImpl, Type};

use crate::attr;

pub(crate) fn strip_markers(item: &ItemImpl) -> ItemImpl {
    let mut item = item.clone();
    for impl_item in &mut item.items {
        let attrs = match impl_item {
            ImplItem::Fn(method) => &mut method.attrs,
            ImplItem::Const(c) => &mut c.attrs,
            ImplItem::Type(t) => &mut t.attrs,
            ImplItem::Macro(m) => &mut m.attrs,
            _ => continue,
        };
        *attrs = attrs.iter().filter_map(attr::without_markers).collect();
    }
    item
}

pub(crate) fn emit(item: &ItemImpl, error: syn::Error) -> TokenStream {
    let mut tokens = strip_markers(item).into_token_stream();
    tokens.extend(placeholder_server(item));
    tokens.extend(error.into_compile_error());
    tokens
}

/// An `impl GenServer` that handles nothing, so that the handlers' `Context<Self>`
/// (which needs `Self: GenServer`) still names a type and the errors end at the
/// misuse. Only for the inherent impl of a named type: anything else is not a
/// server.
fn placeholder_server(item: &ItemImpl) -> Option<TokenStream> {
    let named = matches!(crate::ast::ungroup(&item.self_ty), Type::Path(p) if p.qself.is_none());
    if item.trait_.is_some() || !named {
        return None;
    }
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let mut predicates: Vec<TokenStream> = where_clause
        .iter()
        .flat_map(|w| w.predicates.iter())
        .map(ToTokens::to_token_stream)
        .collect();
    predicates.push(quote_spanned!(self_ty.span()=> #self_ty: ::core::marker::Send + 'static));
    let done = quote!(impl ::core::future::Future<Output = ()> + ::core::marker::Send);
    Some(quote! {
        #[automatically_derived]
        #[doc(hidden)]
        impl #impl_generics ::gensrv::GenServer for #self_ty where #(#predicates),* {
            type Arg = ();
            type Call = ::core::convert::Infallible;
            type Cast = ::core::convert::Infallible;
            type Info = ::core::convert::Infallible;
            type Ref = ::gensrv::ServerRef<Self>;

            fn init(
                _: (),
                _: &mut ::gensrv::Context<Self>,
            ) -> impl ::core::future::Future<Output = ::gensrv::Init<Self>> + ::core::marker::Send {
                ::core::future::ready(::gensrv::Init::Ignore)
            }

            fn handle_call(&mut self, _: Self::Call, _: &mut ::gensrv::Context<Self>) -> #done {
                ::core::future::ready(())
            }

            fn handle_cast(&mut self, _: Self::Cast, _: &mut ::gensrv::Context<Self>) -> #done {
                ::core::future::ready(())
            }

            fn handle_info(&mut self, _: Self::Info, _: &mut ::gensrv::Context<Self>) -> #done {
                ::core::future::ready(())
            }
        }
    })
}
