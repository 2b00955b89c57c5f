//! The impl block, read into the parts the macro works with. Parsing accepts
//! anything; `valid` decides what is wrong. Every part keeps the syn node it came
//! from, so errors can point at the user's own tokens.

use syn::{Attribute, FnArg, ImplItem, ImplItemFn, ItemImpl, PatType, Receiver, Type};

use crate::attr::{self, Kind, Marker};

pub(crate) struct Server<'a> {
    pub(crate) item: &'a ItemImpl,
    pub(crate) handlers: Vec<Handler<'a>>,
    /// Every method of the block, marked or not (for name clashes).
    pub(crate) methods: Vec<&'a ImplItemFn>,
    /// Markers on methods that are not handlers: unknown ones, second ones, and
    /// markers on items that are not methods.
    pub(crate) stray_markers: Vec<(&'a Attribute, Stray)>,
}

pub(crate) enum Stray {
    Unknown(Option<&'static str>),
    Second(Kind),
    NotAMethod,
}

pub(crate) struct Handler<'a> {
    pub(crate) kind: Kind,
    pub(crate) attr: &'a Attribute,
    pub(crate) method: &'a ImplItemFn,
    pub(crate) receiver: Option<&'a Receiver>,
    pub(crate) args: Vec<Arg<'a>>,
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
            let mut kind = None;
            for attr in attrs {
                let stray = match (attr::marker(attr), method, kind) {
                    (None, _, _) => continue,
                    (Some(Marker::Unknown(hint)), _, _) => Stray::Unknown(hint),
                    (Some(Marker::Known(_)), None, _) => Stray::NotAMethod,
                    (Some(Marker::Known(k)), Some(_), Some(_)) => Stray::Second(k),
                    (Some(Marker::Known(k)), Some(method), None) => {
                        kind = Some(k);
                        server.handlers.push(Handler::parse(k, attr, method));
                        continue;
                    }
                };
                server.stray_markers.push((attr, stray));
            }
        }
        server
    }

    pub(crate) fn handlers(&self, kind: Kind) -> impl Iterator<Item = &Handler<'a>> {
        self.handlers.iter().filter(move |h| h.kind == kind)
    }
}

impl<'a> Handler<'a> {
    fn parse(kind: Kind, attr: &'a Attribute, method: &'a ImplItemFn) -> Self {
        let mut receiver = None;
        let mut args = Vec::new();
        for input in &method.sig.inputs {
            match input {
                FnArg::Receiver(r) => receiver = Some(r),
                FnArg::Typed(pat_type) => args.push(Arg {
                    pat_type,
                    role: role(&pat_type.ty),
                }),
            }
        }
        Handler {
            kind,
            attr,
            method,
            receiver,
            args,
        }
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

    /// The doc comments of the method, to carry over to what is generated from it.
    pub(crate) fn docs(&self) -> impl Iterator<Item = &'a Attribute> {
        self.method
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
    }
}

fn role(ty: &Type) -> Role<'_> {
    let referent = match ty {
        Type::Reference(r) => &*r.elem,
        _ => ty,
    };
    if last_segment_is(referent, "Context") {
        return Role::Context;
    }
    if let Type::Path(path) = ty {
        let last = path.path.segments.last().expect("a path has a segment");
        if last.ident == "ReplyTo" {
            if let syn::PathArguments::AngleBracketed(args) = &last.arguments {
                if let [syn::GenericArgument::Type(reply)] = &*args.args.iter().collect::<Vec<_>>()
                {
                    return Role::ReplyTo(reply);
                }
            }
        }
    }
    Role::Message
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
