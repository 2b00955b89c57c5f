//! What to emit when the input is wrong: the user's impl block, without the handler
//! markers (which mean nothing to rustc on their own), next to the errors. The rest
//! of the crate still sees the type's methods, so no cascade of errors follows.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{ImplItem, ItemImpl};

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
        attrs.retain(|a| attr::marker(a).is_none());
    }
    item
}

pub(crate) fn emit(item: &ItemImpl, error: syn::Error) -> TokenStream {
    let mut tokens = strip_markers(item).into_token_stream();
    tokens.extend(error.into_compile_error());
    tokens
}
