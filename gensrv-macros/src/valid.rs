//! Everything the macro rejects. Each error is spanned at the user's token that is
//! wrong; all of them are reported at once.

use std::collections::HashMap;
use std::fmt::Display;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::visit_mut::VisitMut;
use syn::{GenericParam, Pat, ReturnType, Type};

use crate::ast::{Arg, Handler, Role, Server, Stray, context_of, last_segment_is, ungroup};
use crate::attr::{Args, Kind};
use crate::expand::{GENERATED_FNS, variant_name};

#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, tokens: impl ToTokens, message: impl Display) {
        let error = syn::Error::new_spanned(tokens, message);
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }
}

pub(crate) fn validate(args: &Args, server: &Server<'_>) -> syn::Result<()> {
    let mut errors = Errors::default();
    for unknown in &args.unknown {
        errors.push(
            unknown,
            "unknown argument to #[gen_server]; it takes `vis = <visibility>`, `send_checks = <bool>` and `remote`",
        );
    }
    check_impl(server, &mut errors);
    if args.remote.is_some() {
        check_remote(server, &mut errors);
    }
    for (applied, stray) in &server.stray_markers {
        let attr = &applied.meta;
        let message = match stray {
            Stray::Unknown(Some(hint)) => format!(
                "unknown handler attribute `{}`: use {hint}",
                attr.path().to_token_stream()
            ),
            Stray::Unknown(None) => format!(
                "unknown handler attribute `{}`; gensrv's handler attributes are #[init], #[call], #[cast], #[info], #[terminate] and #[format_status]",
                attr.path().to_token_stream()
            ),
            Stray::Second(kind) => format!(
                "a method is one handler: {} cannot be added to another handler attribute",
                kind.attr_name()
            ),
            Stray::NotAMethod => "handler attributes go on methods".to_string(),
        };
        errors.push(applied.tokens(), message);
    }
    for handler in &server.handlers {
        check_handler(handler, &mut errors);
        check_handle_method(handler, &mut errors);
    }
    check_once(server, Kind::Init, &mut errors);
    check_once(server, Kind::Terminate, &mut errors);
    check_once(server, Kind::FormatStatus, &mut errors);
    check_variants(server, &mut errors);
    check_info_types(server, &mut errors);
    for method in twice_named(server) {
        errors.push(
            &method.sig.ident,
            format!(
                "this impl block already has a method named `{}`; rename one",
                method.sig.ident
            ),
        );
    }
    for method in &server.methods {
        let name = method.sig.ident.to_string();
        if GENERATED_FNS.contains(&name.as_str()) {
            errors.push(
                &method.sig.ident,
                format!("#[gen_server] generates `{name}` for this type; rename this method"),
            );
        }
    }
    match errors.0 {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

fn check_impl(server: &Server<'_>, errors: &mut Errors) {
    let item = server.item;
    if let Some((_, path, _)) = &item.trait_ {
        errors.push(
            path,
            "#[gen_server] goes on an inherent impl block (`impl Foo { .. }`), not on a trait impl",
        );
    }
    // An inherent `unsafe impl` is rejected by rustc's parser before the macro runs.
    match ungroup(&item.self_ty) {
        Type::Path(path) if path.qself.is_none() => {}
        other => errors.push(other, "#[gen_server] needs a named type: `impl Foo { .. }`"),
    }
    for param in &item.generics.params {
        if let GenericParam::Lifetime(lifetime) = param {
            errors.push(
                lifetime,
                "a server outlives whoever started it, so its type cannot borrow: remove the lifetime parameter",
            );
        }
    }
}

/// What `#[gen_server(remote)]` cannot do: a generic server (its fingerprint and
/// wire messages would be those of every instance at once). Whether the argument
/// and reply types can travel is rustc's to say, at each type (`crate::remote`);
/// references and `impl Trait` are rejected for every server.
fn check_remote(server: &Server<'_>, errors: &mut Errors) {
    let generics = &server.item.generics;
    if crate::remote::is_generic(server.item) {
        let params: Vec<&GenericParam> = generics
            .params
            .iter()
            .filter(|p| !matches!(p, GenericParam::Lifetime(_)))
            .collect();
        errors.push(
            quote::quote!(#(#params),*),
            "#[gen_server(remote)] does not support a generic server: its messages travel, and its \
             fingerprint names them, as concrete types; remove the parameters (e.g. a server for \
             one instance, in a type of its own)",
        );
    }
}

fn check_handler(handler: &Handler<'_>, errors: &mut Errors) {
    let kind = handler.kind;
    let attr = kind.attr_name();
    let sig = &handler.method.sig;
    if !matches!(handler.marker.meta, syn::Meta::Path(_)) {
        let args = match &handler.marker.meta {
            syn::Meta::List(list) => list.tokens.to_token_stream(),
            other => other.to_token_stream(),
        };
        errors.push(args, format!("{attr} takes no arguments"));
    }
    let only_lifetimes =
        sig.generics.type_params().next().is_none() && sig.generics.const_params().next().is_none();
    if kind == Kind::FormatStatus {
        // No message to own: `fn status<'a>(&'a self) -> &'a str` is fine.
        if !only_lifetimes {
            errors.push(
                &sig.generics,
                "#[format_status] cannot have generic parameters: the server calls it with none",
            );
        }
    } else if !sig.generics.params.is_empty() {
        let what = if sig.generics.lifetimes().next().is_some() && only_lifetimes {
            "lifetime parameters: messages are owned, they cannot borrow"
        } else {
            "generic parameters: the message enums need concrete types (put the parameter on the impl block)"
        };
        errors.push(&sig.generics, format!("a handler cannot have {what}"));
    }
    if let Some(constness) = &sig.constness {
        errors.push(
            constness,
            "a handler cannot be a `const fn`: remove `const`",
        );
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.push(
            unsafety,
            "a handler cannot be an `unsafe fn`: the server calls it",
        );
    }
    if let Some(abi) = &sig.abi {
        errors.push(abi, "a handler cannot have an `extern` ABI");
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(variadic, "a handler cannot be variadic");
    }

    match kind {
        Kind::Call | Kind::Cast | Kind::Info => check_receiver(handler, errors),
        Kind::Init => {
            if let Some(receiver) = handler.receiver {
                errors.push(receiver, "#[init] makes the state, so it takes no `self`");
            }
        }
        Kind::Terminate => match handler.receiver {
            None => errors.push(&sig.ident, "#[terminate] takes `&mut self` or `self`"),
            Some(receiver) if receiver.colon_token.is_some() => {
                errors.push(receiver, "#[terminate] takes `&mut self` or `self`")
            }
            Some(_) => {}
        },
        Kind::FormatStatus => {
            check_format_status(handler, errors);
            return;
        }
    }

    check_context(handler, errors);
    if kind == Kind::Terminate {
        check_terminate_args(handler, errors);
    } else {
        check_messages(handler, errors);
    }
    check_output(handler, errors);
}

/// `#[format_status] fn ..(&self) -> String`: it runs in the server between two
/// messages (`get_status`) and in crash reports, where nothing can be awaited and
/// the state is only looked at.
fn check_format_status(handler: &Handler<'_>, errors: &mut Errors) {
    const SHAPE: &str = "#[format_status] takes `&self` only: `fn status(&self) -> String`";
    let sig = &handler.method.sig;
    match handler.receiver {
        None => errors.push(&sig.ident, SHAPE),
        Some(receiver)
            if receiver.colon_token.is_some()
                || receiver.reference.is_none()
                || receiver.mutability.is_some() =>
        {
            errors.push(receiver, SHAPE)
        }
        Some(_) => {}
    }
    for arg in &handler.args {
        errors.push(arg.pat_type, SHAPE);
    }
    if let Some(asyncness) = &sig.asyncness {
        errors.push(
            asyncness,
            "#[format_status] cannot be `async`: crash reports call it where nothing can be awaited",
        );
    }
    match &sig.output {
        ReturnType::Type(_, ty) if !is_unit(ty) => {}
        _ => errors.push(
            &sig.ident,
            "#[format_status] returns the text to show for the state: `-> String` (or any `Display`)",
        ),
    }
}

fn check_receiver(handler: &Handler<'_>, errors: &mut Errors) {
    let attr = handler.kind.attr_name();
    match handler.receiver {
        None => errors.push(
            &handler.method.sig.ident,
            format!("a {attr} handler takes `&self` or `&mut self`: it runs on the server's state"),
        ),
        Some(receiver) if receiver.colon_token.is_some() => errors.push(
            receiver,
            format!("a {attr} handler takes `&self` or `&mut self`"),
        ),
        Some(receiver) if receiver.reference.is_none() => errors.push(
            receiver,
            format!(
                "a {attr} handler takes `&self` or `&mut self`, not `self`: the state lives on after the message"
            ),
        ),
        Some(_) => {}
    }
}

fn check_context(handler: &Handler<'_>, errors: &mut Errors) {
    let contexts: Vec<&Arg<'_>> = handler
        .args
        .iter()
        .filter(|a| matches!(a.role, Role::Context))
        .collect();
    for (i, ctx) in contexts.iter().enumerate() {
        let ty = ungroup(&ctx.pat_type.ty);
        let by_mut_ref = matches!(ty, Type::Reference(r) if r.mutability.is_some());
        let other_server = match ty {
            Type::Reference(r) => context_of(&r.elem).filter(|s| !handler.is_server(s)),
            _ => None,
        };
        if !by_mut_ref {
            errors.push(ty, "the context is taken as `ctx: &mut Context<Self>`");
        } else if let Some(other) = other_server {
            errors.push(
                other,
                "a handler gets its own server's context: `ctx: &mut Context<Self>`",
            );
        } else if i > 0 {
            errors.push(ctx.pat_type, "a handler takes the context once");
        } else if contexts.len() == 1
            && !std::ptr::eq(*ctx, handler.args.last().expect("has the context"))
        {
            errors.push(ctx.pat_type, "the context must be the last argument");
        }
    }
}

fn check_messages(handler: &Handler<'_>, errors: &mut Errors) {
    let kind = handler.kind;
    let mut replies = 0;
    for arg in &handler.args {
        let pat_type = arg.pat_type;
        match arg.role {
            Role::Context => continue,
            Role::ReplyTo(reply) => {
                if let Some(borrow) = borrow_in(reply) {
                    errors.push(
                        borrow,
                        "a reply goes to another task, so it cannot borrow: reply with an owned value (e.g. clone it)",
                    );
                }
                replies += 1;
                if replies > 1 {
                    errors.push(&pat_type.ty, "a call has one reply: take one `ReplyTo`");
                }
            }
            Role::Message => {
                // `gensrv::Context<Self>` by value is the context with its `&mut`
                // forgotten, not a message anyone could send.
                if context_of(&pat_type.ty).is_some_and(|s| handler.is_server(s)) {
                    errors.push(
                        &pat_type.ty,
                        "the context is taken by reference: `ctx: &mut Context<Self>`",
                    );
                    continue;
                }
            }
        }
        if kind == Kind::Init {
            continue;
        }
        let wild_ok = kind == Kind::Info;
        match &*pat_type.pat {
            Pat::Ident(ident) if ident.by_ref.is_none() && ident.subpat.is_none() => {}
            Pat::Wild(_) if wild_ok => {}
            pat => errors.push(
                pat,
                "give this argument a plain name: it becomes a field of the message enum",
            ),
        }
        check_owned(&pat_type.ty, errors);
    }
    let messages: Vec<&Arg<'_>> = handler.messages().collect();
    match kind {
        Kind::Info if messages.is_empty() => errors.push(
            &handler.method.sig.ident,
            "an #[info] handler takes exactly one argument, the message; its type selects the handler",
        ),
        Kind::Info | Kind::Init => {
            for extra in messages.iter().skip(1) {
                let message = if kind == Kind::Info {
                    "an #[info] handler takes exactly one message argument; its type selects the handler (use a tuple or struct for more)"
                } else {
                    "#[init] takes at most one argument, the start argument (use a tuple or struct for more)"
                };
                errors.push(extra.pat_type, message);
            }
        }
        _ => {}
    }
}

fn check_owned(ty: &Type, errors: &mut Errors) {
    match ungroup(ty) {
        Type::Reference(_) => errors.push(
            ty,
            "a message argument must be owned: a reference cannot travel to the server's task (take `T`, or an `Arc<T>`)",
        ),
        Type::ImplTrait(_) => errors.push(
            ty,
            "`impl Trait` cannot be a field of the message enum: use a named type, or a type parameter of the impl block",
        ),
        _ => {}
    }
}

fn check_terminate_args(handler: &Handler<'_>, errors: &mut Errors) {
    let mut seen_reason = false;
    for arg in &handler.args {
        let ty = ungroup(&arg.pat_type.ty);
        let is_reason = matches!(ty, Type::Reference(r) if r.mutability.is_none() && last_segment_is(&r.elem, "ExitReason"));
        match arg.role {
            Role::Context => {}
            _ if is_reason && !seen_reason => seen_reason = true,
            _ => errors.push(
                arg.pat_type,
                "#[terminate] takes only `reason: &ExitReason` and then `ctx: &mut Context<Self>`, both optional",
            ),
        }
    }
}

fn check_output(handler: &Handler<'_>, errors: &mut Errors) {
    let sig = &handler.method.sig;
    let output = match &sig.output {
        ReturnType::Type(_, ty) if !is_unit(ty) => Some(&**ty),
        _ => None,
    };
    match (handler.kind, output) {
        (Kind::Call, Some(ty)) if handler.reply_to().is_some() => errors.push(
            ty,
            "this call defers its reply through `ReplyTo`, so it returns nothing: send the reply with `ReplyTo::send`",
        ),
        (Kind::Call, Some(ty @ Type::ImplTrait(_))) => errors.push(
            ty,
            "the reply type of a call must be named: it is the `R` of `Call<R>`",
        ),
        (Kind::Call, Some(ty)) if borrow_in(ty).is_some() => errors.push(
            borrow_in(ty),
            "a reply goes to another task, so it cannot borrow from the state: return an owned value (e.g. clone it)",
        ),
        (Kind::Cast, Some(ty)) => errors.push(
            ty,
            "a cast has no reply: remove the return type, or make it a #[call]",
        ),
        (Kind::Info, Some(ty)) => errors.push(
            ty,
            "an info message has no reply: remove the return type",
        ),
        (Kind::Terminate, Some(ty)) => errors.push(ty, "#[terminate] returns nothing: remove the return type"),
        (Kind::Init, None) => errors.push(
            &sig.ident,
            "#[init] returns the state: `Self`, `Result<Self, E>` or `gensrv::Init<Self>`",
        ),
        _ => {}
    }
}

/// The first reference or non-`'static` lifetime in `ty`.
fn borrow_in(ty: &Type) -> Option<TokenStream> {
    struct Find(Option<TokenStream>);
    impl VisitMut for Find {
        fn visit_type_reference_mut(&mut self, r: &mut syn::TypeReference) {
            if r.lifetime.as_ref().is_some_and(|l| l.ident == "static") {
                syn::visit_mut::visit_type_mut(self, &mut r.elem);
            } else if self.0.is_none() {
                let (and, lifetime) = (&r.and_token, &r.lifetime);
                self.0 = Some(quote::quote!(#and #lifetime));
            }
        }
        fn visit_lifetime_mut(&mut self, lifetime: &mut syn::Lifetime) {
            if self.0.is_none() && lifetime.ident != "static" {
                self.0 = Some(lifetime.to_token_stream());
            }
        }
        // What a closure or function pointer type borrows is its own business.
        fn visit_type_bare_fn_mut(&mut self, _: &mut syn::TypeBareFn) {}
    }
    let mut find = Find(None);
    find.visit_type_mut(&mut ty.clone());
    find.0
}

/// The `sys` operations every handle has (OTP's `sys`, see `gensrv::sys`).
const SYS_METHODS: &[&str] = &[
    "get_state",
    "replace_state",
    "suspend",
    "resume",
    "statistics",
    "get_status",
];

/// Methods every handle has, through `Deref<Target = ServerRef<S>>`.
const SERVER_REF_METHODS: &[&str] = &[
    "pid",
    "name",
    "is_alive",
    "call",
    "call_deferred",
    "cast",
    "send",
    "stop",
    "kill",
    "exited",
];

/// Methods every handle has through the traits it implements, and their traits.
const TRAIT_METHODS: &[(&str, &str)] = &[
    ("clone", "Clone"),
    ("clone_from", "Clone"),
    ("eq", "PartialEq"),
    ("ne", "PartialEq"),
    ("hash", "Hash"),
    ("fmt", "Debug"),
    ("deref", "Deref"),
    ("from", "From"),
    ("into", "Into"),
    ("try_from", "TryFrom"),
    ("try_into", "TryInto"),
    ("as_pid", "AsProcess"),
    ("borrow", "Borrow"),
    ("borrow_mut", "BorrowMut"),
    ("to_owned", "ToOwned"),
    ("clone_into", "ToOwned"),
    ("type_id", "Any"),
];

/// A call or cast becomes a method of the handle: it must not hide one that every
/// handle has, or `handle.stop()` would silently mean something else.
fn check_handle_method(handler: &Handler<'_>, errors: &mut Errors) {
    if !matches!(handler.kind, Kind::Call | Kind::Cast) {
        return;
    }
    let ident = handler.name();
    let name = ident.to_string();
    let name = name.trim_start_matches("r#");
    let shadowed = if SERVER_REF_METHODS.contains(&name) {
        format!("`ServerRef::{name}`, which every handle has")
    } else if SYS_METHODS.contains(&name) {
        format!("`ServerRef::{name}` (OTP's `sys`), which every handle has")
    } else if let Some((_, tr)) = TRAIT_METHODS.iter().find(|(m, _)| *m == name) {
        format!("`{tr}::{name}`, which every handle implements")
    } else {
        return;
    };
    let what = if handler.kind == Kind::Call {
        "call"
    } else {
        "cast"
    };
    errors.push(
        ident,
        format!(
            "a {what} named `{name}` would shadow {shadowed}: `handle.{name}(..)` would send \
             this {what} instead; give it another name (e.g. `{what}_{name}`)"
        ),
    );
}

fn is_unit(ty: &Type) -> bool {
    matches!(ungroup(ty), Type::Tuple(t) if t.elems.is_empty())
}

fn check_once(server: &Server<'_>, kind: Kind, errors: &mut Errors) {
    let mut handlers = server.handlers(kind);
    if let Some(first) = handlers.next() {
        for again in handlers {
            errors.push(
                again.marker.tokens(),
                format!(
                    "a server has one {}; `{}` is already marked",
                    kind.attr_name(),
                    first.name()
                ),
            );
        }
    }
}

fn check_variants(server: &Server<'_>, errors: &mut Errors) {
    for kind in [Kind::Call, Kind::Cast, Kind::Info] {
        let mut seen = HashMap::new();
        // Handlers under `cfg` may share a name with one under the opposite `cfg`;
        // where both exist, rustc reports the duplicate.
        for handler in server.handlers(kind).filter(|h| !h.is_conditional()) {
            let variant = variant_name(handler.name()).to_string();
            if let Some(first) = seen.insert(variant.clone(), handler.name()) {
                errors.push(
                    handler.name(),
                    format!(
                        "`{}` and `{first}` would both be the variant `{variant}`; rename one",
                        handler.name()
                    ),
                );
            }
        }
    }
}

fn check_info_types(server: &Server<'_>, errors: &mut Errors) {
    let mut seen: HashMap<String, &syn::Ident> = HashMap::new();
    for handler in server.handlers(Kind::Info).filter(|h| !h.is_conditional()) {
        if let Some(message) = handler.messages().next() {
            let ty = &message.pat_type.ty;
            let key = ty.to_token_stream().to_string();
            if let Some(first) = seen.insert(key, handler.name()) {
                errors.push(
                    ty,
                    format!(
                        "`{first}` already handles this type: an info message goes to the one handler that takes its type"
                    ),
                );
            }
        }
    }
}

/// Whether a server can be written for this impl block at all: a named type, an
/// inherent impl, no lifetime parameter. If not, the fallback writes none.
pub(crate) fn can_expand(server: &Server<'_>) -> bool {
    let mut errors = Errors::default();
    check_impl(server, &mut errors);
    errors.0.is_none()
}

/// Whether the handler itself is right (clashes with other handlers aside).
pub(crate) fn is_valid(handler: &Handler<'_>) -> bool {
    let mut errors = Errors::default();
    check_handler(handler, &mut errors);
    errors.0.is_none()
}

/// Whether what is generated from a handler (its variant, its handle method, the
/// `start` argument of an `#[init]`) can be written, even if the handler is wrong:
/// then the fallback writes it, so that the rest of the crate still compiles.
pub(crate) fn has_valid_shape(handler: &Handler<'_>) -> bool {
    let kind = handler.kind;
    if matches!(kind, Kind::Terminate | Kind::FormatStatus)
        || !handler.method.sig.generics.params.is_empty()
    {
        return false;
    }
    let mut errors = Errors::default();
    for arg in &handler.args {
        if matches!(arg.role, Role::Context) {
            continue;
        }
        check_owned(&arg.pat_type.ty, &mut errors);
        let plain = match &*arg.pat_type.pat {
            Pat::Ident(ident) => ident.by_ref.is_none() && ident.subpat.is_none(),
            Pat::Wild(_) => kind == Kind::Info,
            _ => false,
        };
        if !plain && kind != Kind::Init {
            return false;
        }
    }
    let replies = handler
        .args
        .iter()
        .filter(|a| matches!(a.role, Role::ReplyTo(_)))
        .count();
    let messages = handler.messages().count();
    let reply_ok = match (&handler.method.sig.output, handler.reply_to()) {
        (ReturnType::Type(_, ty), None) if kind == Kind::Call => {
            !matches!(ungroup(ty), Type::ImplTrait(_)) && borrow_in(ty).is_none()
        }
        (_, Some((_, reply))) => borrow_in(reply).is_none(),
        _ => true,
    };
    errors.0.is_none() && replies <= 1 && reply_ok && (kind != Kind::Info || messages == 1)
}

/// The methods that another one before them already names (methods under `cfg`
/// aside: rustc sees whether two of them exist at once). rustc would report
/// each twice: in the user's block and in the handle.
pub(crate) fn twice_named<'a>(server: &Server<'a>) -> Vec<&'a syn::ImplItemFn> {
    let mut seen = std::collections::HashSet::new();
    server
        .methods
        .iter()
        .copied()
        .filter(|m| {
            !m.attrs
                .iter()
                .any(|a| a.path().is_ident("cfg") || a.path().is_ident("cfg_attr"))
        })
        .filter(|m| !seen.insert(m.sig.ident.to_string().trim_start_matches("r#").to_string()))
        .collect()
}
