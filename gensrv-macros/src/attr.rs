//! Reading the attributes: the macro's own arguments and the handler markers.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, Meta, Token, Visibility};

/// What a handler attribute marks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Init,
    Call,
    Cast,
    Info,
    Terminate,
    /// `#[format_status] fn ..(&self) -> String`: the state as status and crash
    /// reports show it (OTP's `format_status`).
    FormatStatus,
}

impl Kind {
    pub(crate) fn attr_name(self) -> &'static str {
        match self {
            Kind::Init => "#[init]",
            Kind::Call => "#[call]",
            Kind::Cast => "#[cast]",
            Kind::Info => "#[info]",
            Kind::Terminate => "#[terminate]",
            Kind::FormatStatus => "#[format_status]",
        }
    }
}

/// An attribute the macro claims: one of the handler markers, or a name that an
/// Erlang or Elixir programmer might write for one.
pub(crate) enum Marker {
    Known(Kind),
    /// `#[handle_call]` and the like; the suggestion, if there is one.
    Unknown(Option<&'static str>),
}

pub(crate) fn marker_of(path: &syn::Path) -> Option<Marker> {
    let ident = path.get_ident()?;
    let marker = match ident.to_string().as_str() {
        "init" => Marker::Known(Kind::Init),
        "call" => Marker::Known(Kind::Call),
        "cast" => Marker::Known(Kind::Cast),
        "info" => Marker::Known(Kind::Info),
        "terminate" => Marker::Known(Kind::Terminate),
        "format_status" => Marker::Known(Kind::FormatStatus),
        "handle_call" => Marker::Unknown(Some("#[call]")),
        "handle_cast" => Marker::Unknown(Some("#[cast]")),
        "handle_info" => Marker::Unknown(Some("#[info]")),
        "handle_continue" => Marker::Unknown(Some("#[info] with `ctx.continue_with`")),
        "code_change" => Marker::Unknown(None),
        _ => return None,
    };
    Some(marker)
}

/// One attribute as rustc applies it: a plain attribute, or one of those a
/// `#[cfg_attr(pred, ..)]` (nested or not) applies when its predicates hold.
#[derive(Clone)]
pub(crate) struct Applied<'a> {
    /// The attribute as written.
    pub(crate) attr: &'a Attribute,
    pub(crate) meta: Meta,
    /// The `cfg_attr` predicates it is under, outermost first.
    pub(crate) conditions: Vec<TokenStream>,
}

impl Applied<'_> {
    /// What to underline: the whole attribute, or the part of a `cfg_attr` it is.
    pub(crate) fn tokens(&self) -> TokenStream {
        if self.conditions.is_empty() {
            self.attr.to_token_stream()
        } else {
            self.meta.to_token_stream()
        }
    }

    /// `#[meta]`, or `#[cfg_attr(all(conditions), meta)]`.
    pub(crate) fn to_attr(&self) -> TokenStream {
        let meta = &self.meta;
        if self.conditions.is_empty() {
            quote!(#[#meta])
        } else {
            let conditions = &self.conditions;
            quote!(#[cfg_attr(all(#(#conditions),*), #meta)])
        }
    }

    /// The predicate of a `cfg` attribute: `p` for `#[cfg(p)]`; under `cfg_attr(c, cfg(p))`,
    /// `any(not(all(c)), p)`.
    pub(crate) fn cfg_predicate(&self) -> Option<TokenStream> {
        match &self.meta {
            Meta::List(list) if list.path.is_ident("cfg") => {
                let predicate = &list.tokens;
                if self.conditions.is_empty() {
                    Some(quote!(#predicate))
                } else {
                    let conditions = &self.conditions;
                    Some(quote!(any(not(all(#(#conditions),*)), #predicate)))
                }
            }
            _ => None,
        }
    }
}

/// The attributes `attrs` apply, `cfg_attr`s opened.
pub(crate) fn applied(attrs: &[Attribute]) -> Vec<Applied<'_>> {
    let mut out = Vec::new();
    for attr in attrs {
        flatten(attr, attr.meta.clone(), Vec::new(), &mut out);
    }
    out
}

fn flatten<'a>(
    attr: &'a Attribute,
    meta: Meta,
    conditions: Vec<TokenStream>,
    out: &mut Vec<Applied<'a>>,
) {
    match cfg_attr_parts(&meta) {
        Some((predicate, metas)) => {
            for inner in metas {
                let mut conditions = conditions.clone();
                conditions.push(predicate.to_token_stream());
                flatten(attr, inner, conditions, out);
            }
        }
        None => out.push(Applied {
            attr,
            meta,
            conditions,
        }),
    }
}

/// `cfg_attr(predicate, a, b)` as its predicate and attributes.
fn cfg_attr_parts(meta: &Meta) -> Option<(Meta, Vec<Meta>)> {
    let Meta::List(list) = meta else {
        return None;
    };
    if !list.path.is_ident("cfg_attr") {
        return None;
    }
    list.parse_args_with(|input: ParseStream<'_>| {
        let predicate: Meta = input.parse()?;
        input.parse::<Token![,]>()?;
        let metas = Punctuated::<Meta, Token![,]>::parse_terminated(input)?;
        Ok((predicate, metas.into_iter().collect()))
    })
    .ok()
}

/// `attr` without the handler markers it applies: `None` if nothing is left.
pub(crate) fn without_markers(attr: &Attribute) -> Option<Attribute> {
    let meta = meta_without_markers(&attr.meta)?;
    Some(Attribute {
        meta,
        ..attr.clone()
    })
}

fn meta_without_markers(meta: &Meta) -> Option<Meta> {
    if marker_of(meta.path()).is_some() {
        return None;
    }
    let Some((predicate, metas)) = cfg_attr_parts(meta) else {
        return Some(meta.clone());
    };
    let metas: Vec<Meta> = metas.iter().filter_map(meta_without_markers).collect();
    if metas.is_empty() {
        return None;
    }
    let path = meta.path();
    Some(syn::parse_quote!(#path(#predicate, #(#metas),*)))
}

/// The arguments of `#[gen_server(...)]`.
#[derive(Default)]
pub(crate) struct Args {
    /// `vis = pub(crate)`: the visibility of the generated items (default `pub`;
    /// see `expand::Gen::handle` for why that is safe).
    pub(crate) vis: Option<Visibility>,
    /// `send_checks = false`: no `T: Send + 'static` checks in the generated
    /// items' where clauses (cleaner docs, less precise errors).
    pub(crate) send_checks: Option<syn::LitBool>,
    /// `remote`: the server's calls and casts can travel between nodes
    /// (`crate::remote`); the flag's token, where a missing feature is reported.
    pub(crate) remote: Option<syn::Ident>,
    /// Anything else, kept for validation to reject.
    pub(crate) unknown: Vec<proc_macro2::TokenStream>,
}

impl Args {
    pub(crate) fn send_checks(&self) -> bool {
        self.send_checks.as_ref().is_none_or(|checks| checks.value)
    }
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            let fork = input.fork();
            let key = fork
                .parse::<syn::Ident>()
                .ok()
                .filter(|_| fork.peek(Token![=]));
            let key = key.map(|k| k.to_string());
            let flag = fork_flag(input);
            if let Some(flag) = flag.filter(|f| f == "remote") {
                if args.remote.is_some() {
                    return Err(syn::Error::new(flag.span(), "`remote` is given twice"));
                }
                args.remote = Some(flag);
                input.parse::<syn::Ident>()?;
            } else if key.as_deref() == Some("vis") {
                input.parse::<syn::Ident>()?;
                input.parse::<Token![=]>()?;
                args.vis = Some(input.parse()?);
            } else if key.as_deref() == Some("send_checks") && fork.peek2(syn::LitBool) {
                input.parse::<syn::Ident>()?;
                input.parse::<Token![=]>()?;
                args.send_checks = Some(input.parse()?);
            } else {
                // One argument: everything up to the next top-level comma.
                let mut tokens = proc_macro2::TokenStream::new();
                while !input.is_empty() && !input.peek(Token![,]) {
                    tokens.extend(std::iter::once(input.parse::<proc_macro2::TokenTree>()?));
                }
                args.unknown.push(tokens);
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

/// The identifier at the head of `input` if it is a whole argument (a flag):
/// followed by a comma or by nothing.
fn fork_flag(input: ParseStream<'_>) -> Option<syn::Ident> {
    let fork = input.fork();
    let ident = fork.parse::<syn::Ident>().ok()?;
    (fork.is_empty() || fork.peek(Token![,])).then_some(ident)
}
