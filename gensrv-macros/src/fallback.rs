//! What to emit when the input is wrong: the server as if the wrong handlers were
//! plain methods, next to the errors. The rest of the crate still sees `start`,
//! the handle and its methods, so no cascade of errors follows. Where no server can
//! be written (not an inherent impl of a named type), the user's impl block without
//! the handler markers (which mean nothing to rustc on their own).

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ImplItem, ItemImpl, Type};

use crate::ast::Server;
use crate::attr::{self, Kind};
use crate::expand::{GENERATED_FNS, variant_name};
use crate::valid;

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

/// The block with every `&mut Context<T>` of another server made `Context<Self>`:
/// that mistake has its error already, and the method as written would add
/// rustc's about `T` not being a server.
fn with_own_contexts(item: &ItemImpl) -> ItemImpl {
    let mut item = item.clone();
    let server_ty = crate::ast::ungroup(&item.self_ty)
        .to_token_stream()
        .to_string();
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        for input in &mut method.sig.inputs {
            let syn::FnArg::Typed(pat_type) = input else {
                continue;
            };
            let syn::Type::Reference(reference) = &mut *pat_type.ty else {
                continue;
            };
            let syn::Type::Path(path) = &mut *reference.elem else {
                continue;
            };
            let Some(last) = path.path.segments.last_mut() else {
                continue;
            };
            if last.ident != "Context" {
                continue;
            }
            if let syn::PathArguments::AngleBracketed(args) = &mut last.arguments
                && let [syn::GenericArgument::Type(server)] =
                    &mut *args.args.iter_mut().collect::<Vec<_>>()
                && !matches!(server, syn::Type::Path(p) if p.qself.is_none() && p.path.is_ident("Self"))
                && server.to_token_stream().to_string() != server_ty
            {
                *server = syn::parse_quote!(Self);
            }
        }
    }
    item
}

pub(crate) fn emit(args: &attr::Args, item: &ItemImpl, error: syn::Error) -> TokenStream {
    let deduped = with_own_contexts(&without_twice_named(item));
    let item = &deduped;
    let mut server = Server::parse(item);
    let mut tokens = if valid::can_expand(&server) {
        keep_usable(&mut server);
        without_clashing_fns(item, crate::expand::expand(args, &server))
    } else {
        let mut tokens = strip_markers(item).into_token_stream();
        tokens.extend(placeholder_server(item));
        tokens
    };
    tokens.extend(error.into_compile_error());
    tokens
}

/// `item` without the methods whose name an earlier one has: both are reported.
fn without_twice_named(item: &ItemImpl) -> ItemImpl {
    let twice: Vec<*const syn::ImplItemFn> = valid::twice_named(&Server::parse(item))
        .into_iter()
        .map(|m| m as *const _)
        .collect();
    let mut dropped = item_fns_twice(item, &twice).into_iter();
    let mut item = item.clone();
    item.items.retain(|_| !dropped.next().unwrap_or(false));
    item
}

fn item_fns_twice(item: &ItemImpl, twice: &[*const syn::ImplItemFn]) -> Vec<bool> {
    item.items
        .iter()
        .map(|i| matches!(i, ImplItem::Fn(f) if twice.contains(&(f as *const _))))
        .collect()
}

/// Keeps the handlers a server can be written from: the right ones, and the wrong
/// ones whose messages can still be written (marked `rejected`: the server does not
/// call them). Of two that clash, the first.
fn keep_usable(server: &mut Server<'_>) {
    let mut once = Vec::new();
    let mut variants = std::collections::HashSet::new();
    let mut info_types = std::collections::HashSet::new();
    server.handlers.retain_mut(|handler| {
        handler.rejected = !valid::is_valid(handler);
        if handler.rejected && !valid::has_valid_shape(handler) {
            return false;
        }
        let kind = handler.kind;
        if matches!(kind, Kind::Init | Kind::Terminate | Kind::FormatStatus) {
            if once.contains(&kind) {
                return false;
            }
            once.push(kind);
            return true;
        }
        if handler.is_conditional() {
            return true;
        }
        let variant = (kind.attr_name(), variant_name(handler.name()).to_string());
        if !variants.insert(variant) {
            return false;
        }
        if kind == Kind::Info {
            let ty = handler.messages().next().map(|m| &m.pat_type.ty);
            if !info_types.insert(ty.to_token_stream().to_string()) {
                return false;
            }
        }
        true
    });
}

/// `expanded` without the generated associated functions that a method of the
/// user's impl block already defines (the first item is that block).
fn without_clashing_fns(item: &ItemImpl, expanded: TokenStream) -> TokenStream {
    let taken: Vec<String> = item
        .items
        .iter()
        .filter_map(|i| match i {
            ImplItem::Fn(f) => Some(f.sig.ident.to_string()),
            _ => None,
        })
        .filter(|name| GENERATED_FNS.contains(&name.as_str()))
        .collect();
    if taken.is_empty() {
        return expanded;
    }
    let Ok(mut file) = syn::parse2::<syn::File>(expanded.clone()) else {
        return expanded;
    };
    let self_ty = item.self_ty.to_token_stream().to_string();
    for generated in file.items.iter_mut().skip(1) {
        if let syn::Item::Impl(generated) = generated {
            if generated.trait_.is_none()
                && generated.self_ty.to_token_stream().to_string() == self_ty
            {
                generated.items.retain(
                    |i| !matches!(i, ImplItem::Fn(f) if taken.contains(&f.sig.ident.to_string())),
                );
            }
        }
    }
    file.into_token_stream()
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
