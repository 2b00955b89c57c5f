//! The impl block, read into the parts the macro works with. Parsing accepts
//! anything; `valid` decides what is wrong. Every part keeps the syn node it came
//! from, so errors can point at the user's own tokens.

use proc_macro2::TokenStream;
use quote::ToTokens;
use quote::quote;
use syn::{FnArg, ImplItem, ImplItemFn, ItemImpl, PatType, Receiver, Type};

use crate::attr::{self, Applied, Kind, Marker};

pub(crate) struct Server<'a> {
    pub(crate) item: &'a ItemImpl,
    pub(crate) handlers: Vec<Handler<'a>>,
    /// Every method of the block, marked or not (for name clashes).
    pub(crate) methods: Vec<&'a ImplItemFn>,
    /// Markers on methods that are not handlers: unknown ones, second ones, and
    /// markers on items that are not methods.
    pub(crate) stray_markers: Vec<(Applied<'a>, Stray)>,
}

pub(crate) enum Stray {
    Unknown(Option<&'static str>),
    Second(Kind),
    NotAMethod,
}

pub(crate) struct Handler<'a> {
    pub(crate) kind: Kind,
    /// The marker, possibly applied by a `cfg_attr`.
    pub(crate) marker: Applied<'a>,
    pub(crate) method: &'a ImplItemFn,
    pub(crate) receiver: Option<&'a Receiver>,
    pub(crate) args: Vec<Arg<'a>>,
    /// The predicates under which the handler exists: its method's `cfg`s and the
    /// `cfg_attr`s its marker is under. Everything generated from it carries them.
    pub(crate) cfg: Vec<TokenStream>,
    /// The doc attributes of the method, `cfg_attr(.., doc = ..)` included.
    pub(crate) docs: Vec<Applied<'a>>,
    /// Set by the fallback for a handler that was rejected but whose messages can
    /// still be written: its variant and handle method are generated (so that the
    /// rest of the crate still compiles), but the server does not call it.
    pub(crate) rejected: bool,
    /// The server's type, as the impl block names it.
    pub(crate) server_ty: &'a Type,
}

pub(crate) struct Arg<'a> {
    pub(crate) pat_type: &'a PatType,
    pub(crate) role: Role<'a>,
}

#[derive(Clone, Copy)]
pub(crate) enum Role<'a> {
    /// Part of the message.
    Message,
    /// `ctx: &Context<..>`, however it is taken.
    Context,
    /// `reply: ReplyTo<T>`: the handler defers its reply, of type `T`.
    ReplyTo(&'a Type),
}

impl<'a> Server<'a> {
    pub(crate) fn parse(item: &'a ItemImpl) -> Self {
        let mut server = Server {
            item,
            handlers: Vec::new(),
            methods: Vec::new(),
            stray_markers: Vec::new(),
        };
        for impl_item in &item.items {
            let (attrs, method) = match impl_item {
                ImplItem::Fn(method) => (&method.attrs, Some(method)),
                ImplItem::Const(c) => (&c.attrs, None),
                ImplItem::Type(t) => (&t.attrs, None),
                ImplItem::Macro(m) => (&m.attrs, None),
                _ => continue,
            };
            if let Some(method) = method {
                server.methods.push(method);
            }
            let applied = attr::applied(attrs);
            let cfg: Vec<TokenStream> = applied.iter().filter_map(Applied::cfg_predicate).collect();
            let mut kind = None;
            for one in &applied {
                let stray = match (attr::marker_of(one.meta.path()), method, kind) {
                    (None, _, _) => continue,
                    (Some(Marker::Unknown(hint)), _, _) => Stray::Unknown(hint),
                    (Some(Marker::Known(_)), None, _) => Stray::NotAMethod,
                    (Some(Marker::Known(k)), Some(_), Some(_)) => Stray::Second(k),
                    (Some(Marker::Known(k)), Some(method), None) => {
                        kind = Some(k);
                        let mut cfg = cfg.clone();
                        cfg.extend(one.conditions.iter().cloned());
                        let docs = applied
                            .iter()
                            .filter(|a| a.meta.path().is_ident("doc"))
                            .cloned()
                            .collect();
                        server.handlers.push(Handler::parse(
                            k,
                            one.clone(),
                            method,
                            cfg,
                            docs,
                            &item.self_ty,
                        ));
                        continue;
                    }
                };
                server.stray_markers.push((one.clone(), stray));
            }
        }
        server
    }

    pub(crate) fn handlers(&self, kind: Kind) -> impl Iterator<Item = &Handler<'a>> {
        self.handlers.iter().filter(move |h| h.kind == kind)
    }
}

impl<'a> Handler<'a> {
    fn parse(
        kind: Kind,
        marker: Applied<'a>,
        method: &'a ImplItemFn,
        cfg: Vec<TokenStream>,
        docs: Vec<Applied<'a>>,
        server_ty: &'a Type,
    ) -> Self {
        let mut receiver = None;
        let mut args = Vec::new();
        for input in &method.sig.inputs {
            match input {
                FnArg::Receiver(r) => receiver = Some(r),
                FnArg::Typed(pat_type) => args.push(Arg {
                    pat_type,
                    role: role(kind, &pat_type.ty),
                }),
            }
        }
        Handler {
            kind,
            marker,
            method,
            receiver,
            args,
            cfg,
            docs,
            rejected: false,
            server_ty,
        }
    }

    /// `#[cfg(all(..))]` for what is generated from this handler, if it has predicates.
    pub(crate) fn cfg_attr(&self) -> TokenStream {
        if self.cfg.is_empty() {
            return quote!();
        }
        let cfg = &self.cfg;
        quote!(#[cfg(all(#(#cfg),*))])
    }

    /// Whether the handler exists under some configurations only.
    pub(crate) fn is_conditional(&self) -> bool {
        !self.cfg.is_empty()
    }

    pub(crate) fn name(&self) -> &'a syn::Ident {
        &self.method.sig.ident
    }

    pub(crate) fn is_async(&self) -> bool {
        self.method.sig.asyncness.is_some()
    }

    pub(crate) fn messages(&self) -> impl Iterator<Item = &Arg<'a>> {
        self.args.iter().filter(|a| matches!(a.role, Role::Message))
    }

    pub(crate) fn reply_to(&self) -> Option<(&Arg<'a>, &'a Type)> {
        self.args.iter().find_map(|a| match a.role {
            Role::ReplyTo(ty) => Some((a, ty)),
            _ => None,
        })
    }
}

/// What an argument is. The context is a *reference* to a type named `Context`
/// (an owned `Context` is the user's own type, a message). The deferred reply is
/// an argument of a `#[call]` whose type is written `ReplyTo<T>` or
/// `gensrv::ReplyTo<T>`; elsewhere a `ReplyTo` is data like any other.
fn role(kind: Kind, ty: &Type) -> Role<'_> {
    let ty = ungroup(ty);
    if let Type::Reference(r) = ty {
        if last_segment_is(&r.elem, "Context") {
            return Role::Context;
        }
    }
    if kind == Kind::Call {
        if let Some(reply) = reply_to_type(ty) {
            return Role::ReplyTo(reply);
        }
    }
    Role::Message
}

/// `T` of `Context<T>` (by any path), if `ty` is one.
pub(crate) fn context_of(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ungroup(ty) else {
        return None;
    };
    let last = path.path.segments.last()?;
    if path.qself.is_some() || last.ident != "Context" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match &*args.args.iter().collect::<Vec<_>>() {
        [syn::GenericArgument::Type(server)] => Some(server),
        _ => None,
    }
}

impl Handler<'_> {
    /// Whether `ty` names this server: `Self`, or the type the impl block is for.
    pub(crate) fn is_server(&self, ty: &Type) -> bool {
        let ty = ungroup(ty);
        let tokens = |t: &Type| t.to_token_stream().to_string();
        matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("Self"))
            || tokens(ty) == tokens(ungroup(self.server_ty))
    }
}

/// `T` of a type written `ReplyTo<T>`, `gensrv::ReplyTo<T>` or `::gensrv::ReplyTo<T>`.
fn reply_to_type(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    let segments: Vec<&syn::PathSegment> = path.path.segments.iter().collect();
    let last = match &*segments {
        [last] if path.path.leading_colon.is_none() => last,
        [krate, last] if krate.ident == "gensrv" && krate.arguments.is_none() => last,
        _ => return None,
    };
    if last.ident != "ReplyTo" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match &*args.args.iter().collect::<Vec<_>>() {
        [syn::GenericArgument::Type(reply)] => Some(reply),
        _ => None,
    }
}

/// `ty` without the invisible groups a `macro_rules!` fragment (`$t:ty`) arrives in.
/// Whether `ty` is, by its name, one of `leaves`, or one of `containers` (or a
/// tuple, or with `arrays` an array) of such types: what the generated checks
/// can skip, a std type that has a trait whenever its parameters do.
pub(crate) fn plainly(ty: &Type, leaves: &[&str], containers: &[&str], arrays: bool) -> bool {
    let plainly = |ty: &Type| plainly(ty, leaves, containers, arrays);
    match ungroup(ty) {
        Type::Tuple(tuple) => tuple.elems.iter().all(plainly),
        Type::Array(array) if arrays => plainly(&array.elem),
        Type::Paren(paren) => plainly(&paren.elem),
        Type::Path(path) if path.qself.is_none() => {
            let Some(last) = path.path.segments.last() else {
                return false;
            };
            let name = last.ident.to_string();
            match &last.arguments {
                syn::PathArguments::None => leaves.contains(&name.as_str()),
                syn::PathArguments::AngleBracketed(args) => {
                    containers.contains(&name.as_str())
                        && args.args.iter().all(|arg| match arg {
                            syn::GenericArgument::Type(ty) => plainly(ty),
                            _ => false,
                        })
                }
                syn::PathArguments::Parenthesized(_) => false,
            }
        }
        _ => false,
    }
}

pub(crate) fn ungroup(mut ty: &Type) -> &Type {
    while let Type::Group(group) = ty {
        ty = &group.elem;
    }
    ty
}

pub(crate) fn last_segment_is(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(path) if path.qself.is_none() => {
            path.path.segments.last().is_some_and(|s| s.ident == name)
        }
        Type::Group(group) => last_segment_is(&group.elem, name),
        Type::Paren(paren) => last_segment_is(&paren.elem, name),
        _ => false,
    }
}
