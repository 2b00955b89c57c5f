//! Reading the attributes: the macro's own arguments and the handler markers.

use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Token, Visibility};

/// What a handler attribute marks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Init,
    Call,
    Cast,
    Info,
    Terminate,
}

impl Kind {
    pub(crate) fn attr_name(self) -> &'static str {
        match self {
            Kind::Init => "#[init]",
            Kind::Call => "#[call]",
            Kind::Cast => "#[cast]",
            Kind::Info => "#[info]",
            Kind::Terminate => "#[terminate]",
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

pub(crate) fn marker(attr: &Attribute) -> Option<Marker> {
    let ident = attr.path().get_ident()?;
    let marker = match ident.to_string().as_str() {
        "init" => Marker::Known(Kind::Init),
        "call" => Marker::Known(Kind::Call),
        "cast" => Marker::Known(Kind::Cast),
        "info" => Marker::Known(Kind::Info),
        "terminate" => Marker::Known(Kind::Terminate),
        "handle_call" => Marker::Unknown(Some("#[call]")),
        "handle_cast" => Marker::Unknown(Some("#[cast]")),
        "handle_info" => Marker::Unknown(Some("#[info]")),
        "handle_continue" => Marker::Unknown(Some("#[info] with `ctx.continue_with`")),
        "code_change" | "format_status" => Marker::Unknown(None),
        _ => return None,
    };
    Some(marker)
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
            if key.as_deref() == Some("vis") {
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
