//! Writing the server: the cleaned impl block, the client handle, the message
//! enums, `impl GenServer`, and the associated functions.
//!
//! Generated code names everything by absolute path (`::gensrv::..`, `::core::..`),
//! binds message fields to fresh names, and gives glue the span of the user's
//! tokens where a type error could surface, so that errors land in the user's code.

use std::collections::HashSet;

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{GenericParam, Ident, ItemImpl, Pat, ReturnType, Type, Visibility};

use crate::ast::{Arg, Handler, Role, Server, last_segment_is, ungroup};
use crate::attr::{Applied, Args, Kind};

/// Associated functions the macro adds to the server type.
pub(crate) const GENERATED_FNS: &[&str] = &["start", "whereis", "child_spec"];
/// The field of a call variant that carries its `ReplyTo`, unless the handler
/// names its own.
pub(crate) const REPLY_FIELD: &str = "reply_to";

/// The runtime's info messages, with the `GenServer` method that receives each,
/// and whether that method takes the message (`Timeout` carries nothing).
const RUNTIME_INFO: &[(&str, &str, bool)] = &[
    ("Timeout", "handle_timeout", false),
    ("Down", "handle_down", true),
    ("Exit", "handle_exit", true),
];

pub(crate) fn variant_name(method: &Ident) -> Ident {
    let mut name = String::new();
    for word in method.to_string().trim_start_matches("r#").split('_') {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.extend(first.to_uppercase());
            name.push_str(chars.as_str());
        }
    }
    if name.is_empty() {
        name.push_str("Message");
    }
    // `self_` would be the keyword `Self`.
    if name == "Self" {
        name.push('_');
    }
    // `_1` would be `1`: keep an underscore before what cannot start a name.
    // (Upper-casing keeps what can, and what can continue one, as it was.)
    if !name.starts_with(unicode_ident::is_xid_start) {
        name.insert(0, '_');
    }
    Ident::new(&name, method.span())
}

/// The field of a call variant that carries its `ReplyTo`: `reply_to`, or, if an
/// argument has that name, `reply_to_` (and so on).
pub(crate) fn reply_field(handler: &Handler<'_>) -> Ident {
    let mut name = REPLY_FIELD.to_string();
    while handler
        .messages()
        .any(|arg| matches!(&*arg.pat_type.pat, Pat::Ident(i) if i.ident == name))
    {
        name.push('_');
    }
    format_ident!("{}", name)
}

/// Every identifier in `tokens`, so that generated generic parameters can be named
/// apart from all of them.
fn idents_in(tokens: TokenStream, out: &mut HashSet<String>) {
    for tree in tokens {
        match tree {
            proc_macro2::TokenTree::Ident(ident) => {
                out.insert(ident.to_string());
            }
            proc_macro2::TokenTree::Group(group) => idents_in(group.stream(), out),
            _ => {}
        }
    }
}

pub(crate) fn expand(args: &Args, server: &Server<'_>) -> TokenStream {
    let item = server.item;
    let ident = match ungroup(&item.self_ty) {
        Type::Path(path) => path.path.segments.last().expect("validated").ident.clone(),
        _ => unreachable!("validated"),
    };
    let mut used = HashSet::new();
    idents_in(item.to_token_stream(), &mut used);
    let server_param = fresh_in("Server", &used);
    used.insert(server_param.to_string());
    let init = server.handlers(Kind::Init).next();
    let server_gen = Gen {
        server,
        item,
        name: ident.to_string(),
        handle: format_ident!("{}Ref", ident),
        call: format_ident!("{}Call", ident),
        cast: format_ident!("{}Cast", ident),
        info: format_ident!("{}Info", ident),
        vis: args.vis.clone().unwrap_or_else(|| syn::parse_quote!(pub)),
        vis_given: args.vis.is_some(),
        send_checks: args.send_checks(),
        remote: args.remote.is_some() && !crate::remote::is_generic(item),
        wire: Vec::new(),
        init,
        server_param,
        used,
    };
    let mut server_gen = server_gen;
    if server_gen.remote {
        server_gen.wire = crate::remote::wire_predicates(&server_gen);
    }
    let cleaned = crate::fallback::strip_markers(item);
    // What depends on `#[init]` is written twice when `#[init]` is under `cfg`:
    // once with it, once as if there were none.
    let (assoc, genserver) = match init.filter(|h| h.is_conditional()) {
        None => (server_gen.associated_fns(), server_gen.impl_genserver()),
        Some(init) => {
            let cfg = &init.cfg;
            let without = Gen {
                init: None,
                ..server_gen.clone()
            };
            let (assoc, genserver) = (server_gen.associated_fns(), server_gen.impl_genserver());
            let (assoc_without, genserver_without) =
                (without.associated_fns(), without.impl_genserver());
            (
                quote! {
                    #[cfg(all(#(#cfg),*))] #assoc
                    #[cfg(not(all(#(#cfg),*)))] #assoc_without
                },
                quote! {
                    #[cfg(all(#(#cfg),*))] #genserver
                    #[cfg(not(all(#(#cfg),*)))] #genserver_without
                },
            )
        }
    };
    let handle = server_gen.handle();
    let enums = [Kind::Call, Kind::Cast, Kind::Info].map(|kind| server_gen.message_enum(kind));
    let from_info = server_gen.info_from_impls();
    let send_checks = server_gen.conditional_send_checks();
    let remote = args
        .remote
        .as_ref()
        .map(|flag| crate::remote::expand(&server_gen, flag));
    quote! {
        #cleaned
        #assoc
        #handle
        #(#enums)*
        #from_info
        #genserver
        #send_checks
        #remote
    }
}

/// `base`, or `base_`, `base__`, ...: the first that is not in `used`.
fn fresh_in(base: &str, used: &HashSet<String>) -> Ident {
    let mut name = base.to_string();
    while used.contains(&name) {
        name.push('_');
    }
    format_ident!("{}", name)
}

#[derive(Clone)]
pub(crate) struct Gen<'a> {
    pub(crate) server: &'a Server<'a>,
    pub(crate) item: &'a ItemImpl,
    /// The server type's name, for docs.
    pub(crate) name: String,
    pub(crate) handle: Ident,
    pub(crate) call: Ident,
    pub(crate) cast: Ident,
    pub(crate) info: Ident,
    pub(crate) vis: Visibility,
    /// Whether `vis` was given (see `Gen::definition`).
    pub(crate) vis_given: bool,
    pub(crate) send_checks: bool,
    /// `#[gen_server(remote)]`, on a server that can take it: `impl GenServer`
    /// gets the `__remote` hook.
    pub(crate) remote: bool,
    /// With `remote`, `T: ::gensrv::__private::Wire` for each type that travels
    /// (`crate::remote`): in every generated item's where clause, as the send
    /// checks are, so that an unmet one is one error, at the type.
    pub(crate) wire: Vec<TokenStream>,
    /// The `#[init]` handler, if this expansion has one.
    pub(crate) init: Option<&'a Handler<'a>>,
    /// The handle's last type parameter, named apart from every identifier of the
    /// impl block.
    pub(crate) server_param: Ident,
    /// Every identifier of the impl block, and `server_param`.
    pub(crate) used: HashSet<String>,
}

/// One field of a message variant, and the handler argument it comes from.
struct Field<'a> {
    name: Ident,
    ty: Type,
    arg: Option<&'a Arg<'a>>,
}

impl Gen<'_> {
    pub(crate) fn self_ty(&self) -> &Type {
        &self.item.self_ty
    }

    /// A name for a generated generic parameter that no identifier of the impl
    /// block (nor the handle's `server_param`) has.
    fn fresh(&self, base: &str) -> Ident {
        fresh_in(base, &self.used)
    }

    /// The visibility of the handle and the enums as declared.
    pub(crate) fn item_vis(&self) -> TokenStream {
        if self.vis_given {
            quote!(pub)
        } else {
            self.vis.to_token_stream()
        }
    }

    /// The definition of the handle or an enum. With `vis = ..`, it is declared
    /// `pub` in a private module and re-exported with that visibility: a type named
    /// by `impl GenServer` (a public trait) must be nominally as public as the
    /// server type, or rustc rejects it (E0446), while the re-export keeps the name
    /// as visible as asked.
    pub(crate) fn definition(&self, definition: TokenStream) -> TokenStream {
        if !self.vis_given {
            return definition;
        }
        let name = match syn::parse2::<syn::Item>(definition.clone()) {
            Ok(syn::Item::Struct(s)) => s.ident,
            Ok(syn::Item::Enum(e)) => e.ident,
            _ => unreachable!("a struct or an enum"),
        };
        let module = format_ident!("__gensrv_{}", name);
        let vis = &self.vis;
        quote! {
            #[doc(hidden)]
            #[allow(non_snake_case)]
            mod #module {
                #[allow(unused_imports)]
                use super::*;
                #definition
            }
            #vis use #module::#name;
        }
    }

    /// `ty` with `Self` spelled out, for use outside the server's own impl blocks.
    pub(crate) fn outside(&self, ty: &Type) -> Type {
        let mut ty = ty.clone();
        ReplaceSelf(self.self_ty()).visit_type_mut(&mut ty);
        ty
    }

    fn enum_ident(&self, kind: Kind) -> &Ident {
        match kind {
            Kind::Call => &self.call,
            Kind::Cast => &self.cast,
            Kind::Info => &self.info,
            Kind::Init | Kind::Terminate | Kind::FormatStatus => unreachable!("no message enum"),
        }
    }

    fn associated_fns(&self) -> TokenStream {
        let Gen {
            name, handle, vis, ..
        } = self;
        let self_ty = self.self_ty();
        let handle_ty = self.handle_ty();
        let (impl_generics, _, _) = self.item.generics.split_for_impl();
        let where_send = self.where_send();
        let init = self.init;
        let start_arg = init.and_then(|h| h.messages().next());
        // The start argument is named as in `#[init]` (the user's own name cannot
        // clash with the user's items), else by a name no user item has.
        let arg_name = start_arg
            .map(arg_ident)
            .filter(|ident| !ident.to_string().starts_with('_'))
            .unwrap_or_else(|| format_ident!("__gensrv_arg"));
        let state = format_ident!("__gensrv_state");
        let (params, arg, what) = match (init, start_arg) {
            (None, _) => (
                quote!(#state: Self),
                quote!(#state),
                "The argument is the server's state, as it has no `#[init]`.".to_string(),
            ),
            (Some(init), None) => (
                quote!(),
                quote!(()),
                format!("Its `#[init]` is `{}`.", init.name()),
            ),
            (Some(init), Some(arg)) => {
                let ty = &arg.pat_type.ty;
                (
                    quote!(#arg_name: #ty),
                    quote!(#arg_name),
                    format!("The argument goes to its `#[init]`, `{}`.", init.name()),
                )
            }
        };
        let start_doc = format!(
            "Starts a `{name}` server. {what}\n\n\
             Await the returned [`Start`](::gensrv::Start) (after `.name(..)` or \
             `.init_timeout(..)` if wanted) for its [`{handle}`], once init has finished."
        );
        let whereis_doc = format!(
            "The handle of the `{name}` server registered under the given name, if one is running."
        );
        let child_spec_doc = format!(
            "How a supervisor starts a `{name}` server: a \
             [`TypedChildSpec`](::gensrv::supervisor::TypedChildSpec) with id `\"{name}\"`, \
             for which a supervisor's `start_child` gives a [`{handle}`]. Each start (and \
             restart) gets a clone of the argument: a supervisor takes the spec only if the \
             argument is `Clone`. {what}"
        );
        let child_spec = quote! {
            #[doc = #child_spec_doc]
            #vis fn child_spec(#params) -> ::gensrv::supervisor::TypedChildSpec<Self> {
                ::gensrv::supervisor::TypedChildSpec::new(#arg).with_id(#name)
            }
        };

        quote! {
            #[allow(dead_code, unreachable_pub)]
            impl #impl_generics #self_ty #where_send {
                #[doc = #start_doc]
                #vis fn start(#params) -> ::gensrv::Start<Self> {
                    ::gensrv::Start::new(#arg)
                }

                #[doc = #whereis_doc]
                #vis fn whereis(__gensrv_name: &str) -> ::core::option::Option<#handle_ty> {
                    ::core::option::Option::map(
                        ::gensrv::ServerRef::<Self>::whereis(__gensrv_name),
                        ::core::convert::From::from,
                    )
                }

                #child_spec
            }
        }
    }

    /// The parameters of the impl block, without bounds (`K, V, N`), as generic
    /// arguments; or, with `as_types`, as types (a const `N` as `[(); N]`), for a
    /// `PhantomData` that uses each of them.
    fn params_as(&self, as_types: bool) -> Vec<TokenStream> {
        self.item
            .generics
            .params
            .iter()
            .filter_map(|param| match param {
                GenericParam::Type(t) => Some(t.ident.to_token_stream()),
                GenericParam::Const(c) if as_types => {
                    let ident = &c.ident;
                    Some(quote!([(); #ident]))
                }
                GenericParam::Const(c) => Some(c.ident.to_token_stream()),
                GenericParam::Lifetime(_) => None,
            })
            .collect()
    }

    fn params(&self) -> Vec<TokenStream> {
        self.params_as(false)
    }

    fn phantom_types(&self) -> Vec<TokenStream> {
        self.params_as(true)
    }

    /// `FooRef<K, V, Foo<K, V>>`: the handle type as the server's impls name it.
    pub(crate) fn handle_ty(&self) -> TokenStream {
        let handle = &self.handle;
        let params = self.params();
        let self_ty = self.self_ty();
        quote!(#handle<#(#params,)* #self_ty>)
    }

    /// The handle has a last type parameter, `Server`, always `Foo` (its default).
    /// Its impls name `Foo` only through that parameter, which makes the handle
    /// exactly as visible as `Foo`: `pub` for a `pub` server, private for a private
    /// one, without the macro knowing which (it cannot see the struct).
    fn handle(&self) -> TokenStream {
        let Gen { name, handle, .. } = self;
        let self_ty = self.self_ty();
        let handle_ty = self.handle_ty();
        let (impl_generics, _, _) = self.item.generics.split_for_impl();
        let where_send = self.where_send();
        let generic_params: Vec<&GenericParam> = self.item.generics.params.iter().collect();
        let params = self.params();
        let doc = format!(
            "A client handle of a `{name}` server: one method per `#[call]` and `#[cast]` \
             handler of `{name}`.\n\n\
             Cheap to clone and usable from any task. It derefs to \
             [`ServerRef`](::gensrv::ServerRef), for what every server has: `pid`, `send`, \
             `stop`, `kill`, `exited`, ...\n\n\
             The `{server}` parameter is always `{name}` (its default); it only makes the \
             handle as visible as `{name}` is.",
            server = self.server_param,
        );
        let phantom_types = self.phantom_types();
        let phantom = if phantom_types.is_empty() {
            quote!()
        } else {
            let field_vis = if self.vis_given {
                quote!(pub(super))
            } else {
                quote!()
            };
            quote!(#field_vis _params: ::core::marker::PhantomData<fn() -> (#(#phantom_types,)*)>,)
        };
        let phantom_init = if params.is_empty() {
            quote!()
        } else {
            quote!(_params: ::core::marker::PhantomData,)
        };
        let methods = self
            .server
            .handlers
            .iter()
            .filter(|h| matches!(h.kind, Kind::Call | Kind::Cast))
            .map(|h| self.handle_method(h));
        let handle_str = handle.to_string();
        let server_param = &self.server_param;
        let hasher = self.fresh("H");
        // Impls over any `Server`, so that they name no private type.
        let any = quote!(<#(#generic_params,)* #server_param: ::gensrv::GenServer>);
        let any_ty = quote!(#handle<#(#params,)* #server_param>);
        let item_vis = self.item_vis();
        // Inside `definition`'s module, the fields are for the impls outside it.
        let field_vis = if self.vis_given {
            quote!(pub(super))
        } else {
            quote!()
        };
        let definition = quote! {
            #[doc = #doc]
            #[allow(private_interfaces, private_bounds, unreachable_pub, dead_code)]
            #item_vis struct #handle<#(#generic_params,)* #server_param: ::gensrv::GenServer = #self_ty>
            #where_send
            {
                #field_vis inner: ::gensrv::ServerRef<#server_param>,
                #phantom
            }
        };
        let definition = self.definition(definition);
        quote! {
            #definition

            #[allow(dead_code, unreachable_pub)]
            impl #impl_generics #handle_ty #where_send {
                #(#methods)*
            }

            #[automatically_derived]
            impl #any ::core::clone::Clone for #any_ty #where_send {
                fn clone(&self) -> Self {
                    ::core::convert::From::from(::core::clone::Clone::clone(&self.inner))
                }
            }

            #[automatically_derived]
            impl #any ::core::fmt::Debug for #any_ty #where_send {
                fn fmt(&self, __gensrv_f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    let mut __gensrv_tuple = __gensrv_f.debug_tuple(#handle_str);
                    __gensrv_tuple.field(&::gensrv::ServerRef::pid(&self.inner));
                    if let ::core::option::Option::Some(__gensrv_name) = ::gensrv::ServerRef::name(&self.inner) {
                        __gensrv_tuple.field(&__gensrv_name);
                    }
                    __gensrv_tuple.finish()
                }
            }

            #[automatically_derived]
            impl #any ::core::cmp::PartialEq for #any_ty #where_send {
                fn eq(&self, __gensrv_other: &Self) -> bool {
                    self.inner == __gensrv_other.inner
                }
            }

            #[automatically_derived]
            impl #any ::core::cmp::Eq for #any_ty #where_send {}

            #[automatically_derived]
            impl #any ::core::hash::Hash for #any_ty #where_send {
                fn hash<#hasher: ::core::hash::Hasher>(&self, __gensrv_state: &mut #hasher) {
                    ::core::hash::Hash::hash(&self.inner, __gensrv_state)
                }
            }

            #[automatically_derived]
            impl #any ::gensrv::AsProcess for #any_ty #where_send {
                fn as_pid(&self) -> ::gensrv::Pid {
                    ::gensrv::ServerRef::pid(&self.inner)
                }

                fn __process(&self) -> ::core::option::Option<::gensrv::pid::ProcessHandle> {
                    ::gensrv::AsProcess::__process(&self.inner)
                }
            }

            #[automatically_derived]
            impl #any ::core::ops::Deref for #any_ty #where_send {
                type Target = ::gensrv::ServerRef<#server_param>;
                fn deref(&self) -> &Self::Target {
                    &self.inner
                }
            }

            #[automatically_derived]
            impl #any ::core::convert::From<::gensrv::ServerRef<#server_param>> for #any_ty #where_send {
                fn from(__gensrv_inner: ::gensrv::ServerRef<#server_param>) -> Self {
                    #handle { inner: __gensrv_inner, #phantom_init }
                }
            }

            #[automatically_derived]
            impl #any ::core::convert::From<#any_ty> for ::gensrv::ServerRef<#server_param> #where_send {
                fn from(__gensrv_handle: #any_ty) -> Self {
                    __gensrv_handle.inner
                }
            }
        }
    }

    fn handle_method(&self, handler: &Handler<'_>) -> TokenStream {
        let vis = &self.vis;
        let method = handler.name();
        let docs = docs_or(handler, || {
            format!(
                "Sends the `{method}` {} to the server.",
                kind_word(handler.kind)
            )
        });
        let params = handler.messages().map(|arg| {
            let ident = arg_ident(arg);
            let ty = self.outside(&arg.pat_type.ty);
            quote!(#ident: #ty)
        });
        let idents: Vec<Ident> = handler.messages().map(arg_ident).collect();
        let variant = variant_name(method);
        let enum_ident = self.enum_ident(handler.kind);
        let cfg = handler.cfg_attr();
        match handler.kind {
            Kind::Call => {
                let reply = self.reply_type(handler);
                let (reply_field, call_fn) = match handler.reply_to() {
                    Some((arg, _)) => (arg_ident(arg), quote!(call_deferred)),
                    None => (reply_field(handler), quote!(call)),
                };
                quote! {
                    #cfg
                    #(#docs)*
                    #vis fn #method(&self, #(#params),*) -> ::gensrv::Call<#reply> {
                        ::gensrv::ServerRef::#call_fn(&self.inner, |__gensrv_reply_to| #enum_ident::#variant {
                            #(#idents,)*
                            #reply_field: __gensrv_reply_to,
                        })
                    }
                }
            }
            Kind::Cast => quote! {
                #cfg
                #(#docs)*
                #vis fn #method(&self, #(#params),*)
                    -> ::core::result::Result<(), ::gensrv::CastError>
                {
                    ::gensrv::ServerRef::cast(&self.inner, #enum_ident::#variant { #(#idents,)* })
                }
            },
            _ => unreachable!("only calls and casts have handle methods"),
        }
    }

    /// The reply type of a call, `Self` spelled out.
    pub(crate) fn reply_type(&self, handler: &Handler<'_>) -> Type {
        if let Some((_, reply)) = handler.reply_to() {
            return self.outside(reply);
        }
        match &handler.method.sig.output {
            ReturnType::Type(_, ty) => self.outside(ty),
            ReturnType::Default => syn::parse_quote!(()),
        }
    }

    /// The fields of a handler's variant, in the order of its arguments.
    fn fields<'h>(&self, handler: &'h Handler<'h>) -> Vec<Field<'h>> {
        let mut fields: Vec<Field<'h>> = handler
            .args
            .iter()
            .filter(|a| !matches!(a.role, Role::Context))
            .map(|arg| Field {
                name: arg_ident(arg),
                ty: self.outside(&arg.pat_type.ty),
                arg: Some(arg),
            })
            .collect();
        if handler.kind == Kind::Call && handler.reply_to().is_none() {
            let reply = self.reply_type(handler);
            fields.push(Field {
                name: reply_field(handler),
                ty: syn::parse_quote!(::gensrv::ReplyTo<#reply>),
                arg: None,
            });
        }
        fields
    }

    fn message_enum(&self, kind: Kind) -> TokenStream {
        let Gen { name, .. } = self;
        let ident = self.enum_ident(kind);
        let generics = &self.item.generics;
        let where_send = self.where_send();
        let doc = match kind {
            Kind::Call => format!(
                "The calls of a `{name}` server: one variant per `#[call]` handler, holding its \
                 arguments and the [`ReplyTo`](::gensrv::ReplyTo) its reply goes through."
            ),
            Kind::Cast => format!(
                "The casts of a `{name}` server: one variant per `#[cast]` handler, holding its arguments."
            ),
            _ => format!(
                "The info messages of a `{name}` server: one variant per `#[info]` handler, holding \
                 its message. Anything that converts into it can be sent with \
                 [`ServerRef::send`](::gensrv::ServerRef::send)."
            ),
        };
        let variants = self.server.handlers(kind).map(|handler| {
            let variant = variant_name(handler.name());
            let method = handler.name();
            let docs = docs_or(handler, || {
                format!("The message of the `{method}` handler.")
            });
            let fields = self.fields(handler);
            let cfg = handler.cfg_attr();
            if fields.is_empty() {
                return quote!(#cfg #(#docs)* #variant,);
            }
            let fields = fields.iter().map(|field| {
                let Field { name, ty, arg } = field;
                let doc = match arg {
                    Some(arg) if matches!(arg.role, Role::ReplyTo(_)) => {
                        "Where the reply goes.".to_string()
                    }
                    Some(_) if kind == Kind::Info => "The message.".to_string(),
                    Some(_) => format!("The `{name}` argument."),
                    None => "Where the reply goes.".to_string(),
                };
                quote!(#[doc = #doc] #name: #ty,)
            });
            quote!(#cfg #(#docs)* #variant { #(#fields)* },)
        });
        let phantom = self.phantom_variant();
        let item_vis = self.item_vis();
        self.definition(quote! {
            #[doc = #doc]
            #[allow(private_interfaces, private_bounds, unreachable_pub, dead_code)]
            #item_vis enum #ident #generics #where_send {
                #(#variants)*
                #phantom
            }
        })
    }

    /// For a generic server, a variant that uses every parameter of the impl, and
    /// cannot be built (it holds an `Infallible`), so matches can leave it out.
    fn phantom_variant(&self) -> TokenStream {
        let params = self.phantom_types();
        if params.is_empty() {
            return quote!();
        }
        quote! {
            #[doc(hidden)]
            __Phantom(
                ::core::marker::PhantomData<fn() -> (#(#params,)*)>,
                ::core::convert::Infallible,
            ),
        }
    }

    fn info_from_impls(&self) -> TokenStream {
        let info = &self.info;
        let (impl_generics, ty_generics, _) = self.item.generics.split_for_impl();
        let where_send = self.where_send();
        let impls = self.server.handlers(Kind::Info).filter_map(|handler| {
            let arg = handler.messages().next()?;
            let ty = self.outside(&arg.pat_type.ty);
            let variant = variant_name(handler.name());
            let field = arg_ident(arg);
            let cfg = handler.cfg_attr();
            Some(quote_spanned! {arg.pat_type.ty.span()=>
                #cfg
                #[automatically_derived]
                impl #impl_generics ::core::convert::From<#ty> for #info #ty_generics #where_send {
                    fn from(__gensrv_message: #ty) -> Self {
                        #info::#variant { #field: __gensrv_message }
                    }
                }
            })
        });
        quote!(#(#impls)*)
    }

    fn impl_genserver(&self) -> TokenStream {
        let Gen {
            call, cast, info, ..
        } = self;
        let self_ty = self.self_ty();
        let handle_ty = self.handle_ty();
        let (impl_generics, ty_generics, _) = self.item.generics.split_for_impl();
        let where_send = self.where_send();
        let init = self.init();
        let arg_ty = match self.init {
            None => quote!(Self),
            Some(h) => match h.messages().next() {
                Some(arg) => arg.pat_type.ty.to_token_stream(),
                None => quote!(()),
            },
        };
        let handle_call = self.dispatch(Kind::Call);
        let handle_cast = self.dispatch(Kind::Cast);
        let handle_info = self.dispatch(Kind::Info);
        let runtime_info = self.runtime_info();
        let terminate = self.terminate();
        let format_status = self.format_status();
        let names = [Kind::Call, Kind::Cast, Kind::Info].map(|kind| self.handler_names(kind));
        let remote_hook = if self.remote {
            quote!(::gensrv::__private::remote_hook!();)
        } else {
            quote!()
        };
        quote! {
            #[automatically_derived]
            impl #impl_generics ::gensrv::GenServer for #self_ty #where_send {
                type Arg = #arg_ty;
                type Call = #call #ty_generics;
                type Cast = #cast #ty_generics;
                type Info = #info #ty_generics;
                type Ref = #handle_ty;

                #init
                #handle_call
                #handle_cast
                #handle_info
                #runtime_info
                #terminate
                #format_status
                #(#names)*
                #remote_hook

                fn __backup(&self) -> ::core::option::Option<Self> {
                    #[allow(unused_imports)]
                    use ::gensrv::__private::{BackupByClone as _, NoBackup as _};
                    (&::gensrv::__private::Backup(self)).backup()
                }
            }
        }
    }

    fn init(&self) -> TokenStream {
        let Some(handler) = self.init else {
            return quote! {
                async fn init(
                    __gensrv_state: Self,
                    _: &mut ::gensrv::Context<Self>,
                ) -> ::gensrv::Init<Self> {
                    ::gensrv::Init::Ready(__gensrv_state)
                }
            };
        };
        let args = handler.args.iter().map(|arg| match arg.role {
            Role::Context => quote!(__gensrv_ctx),
            _ => quote!(__gensrv_arg),
        });
        if handler.rejected {
            // Only `start`'s signature matters: the crate does not compile.
            return quote! {
                async fn init(
                    _: Self::Arg,
                    _: &mut ::gensrv::Context<Self>,
                ) -> ::gensrv::Init<Self> {
                    ::core::unreachable!()
                }
            };
        }
        let call = invoke(handler, quote!(), args);
        let output = match &handler.method.sig.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => handler.name().span(),
        };
        let into_init = quote_spanned! {output=>
            ::gensrv::__private::IntoInit::<Self>::into_init(__gensrv_returned)
        };
        quote! {
            #[allow(unused_variables)]
            async fn init(
                __gensrv_arg: Self::Arg,
                __gensrv_ctx: &mut ::gensrv::Context<Self>,
            ) -> ::gensrv::Init<Self> {
                let __gensrv_returned = #call;
                #into_init
            }
        }
    }

    fn dispatch(&self, kind: Kind) -> TokenStream {
        let (method, message) = match kind {
            Kind::Call => (quote!(handle_call), quote!(Self::Call)),
            Kind::Cast => (quote!(handle_cast), quote!(Self::Cast)),
            _ => (quote!(handle_info), quote!(Self::Info)),
        };
        let enum_ident = self.enum_ident(kind);
        let arms = self.server.handlers(kind).map(|handler| {
            let variant = variant_name(handler.name());
            let fields = self.fields(handler);
            let bindings: Vec<Ident> = (0..fields.len())
                .map(|i| format_ident!("__gensrv_field{}", i))
                .collect();
            let names = fields.iter().map(|f| &f.name);
            let mut next = bindings.iter();
            let args: Vec<TokenStream> = handler
                .args
                .iter()
                .map(|arg| match arg.role {
                    Role::Context => quote!(__gensrv_ctx),
                    _ => next.next().expect("a field per argument").to_token_stream(),
                })
                .collect();
            let call = invoke(handler, quote!(self,), args.into_iter());
            let body = if handler.rejected {
                quote!()
            } else if kind == Kind::Call && handler.reply_to().is_none() {
                let reply = bindings.last().expect("the reply field");
                quote! {
                    let __gensrv_reply = #call;
                    let _ = ::gensrv::ReplyTo::send(#reply, __gensrv_reply);
                }
            } else {
                quote!(#call;)
            };
            let cfg = handler.cfg_attr();
            quote! {
                #cfg
                #enum_ident::#variant { #(#names: #bindings),* } => { #body }
            }
        });
        quote! {
            #[allow(unused_variables)]
            async fn #method(&mut self, __gensrv_message: #message, __gensrv_ctx: &mut ::gensrv::Context<Self>) {
                match __gensrv_message {
                    #(#arms)*
                }
            }
        }
    }

    /// Routes the runtime's own messages (`Timeout`, ..) to the `#[info]` handlers
    /// that take them. A handler is a candidate when its type's last path segment
    /// is the runtime type's name; a downcast confirms it is that type.
    fn runtime_info(&self) -> TokenStream {
        let methods = RUNTIME_INFO.iter().filter_map(|(type_name, method, takes_message)| {
            let candidates: Vec<&Handler<'_>> = self
                .server
                .handlers(Kind::Info)
                .filter(|h| {
                    !h.rejected
                        && h.messages()
                        .next()
                        .is_some_and(|arg| last_segment_is(&arg.pat_type.ty, type_name))
                })
                .collect();
            if candidates.is_empty() {
                return None;
            }
            let runtime_ty = format_ident!("{}", type_name);
            let method = format_ident!("{}", method);
            let tries = candidates.iter().map(|handler| {
                let ty = &handler.messages().next().expect("a message").pat_type.ty;
                let args = handler.args.iter().map(|arg| match arg.role {
                    Role::Context => quote!(__gensrv_ctx),
                    _ => quote!(__gensrv_message),
                });
                let call = invoke(handler, quote!(self,), args);
                let cfg = handler.cfg_attr();
                quote! {
                    #cfg
                    let __gensrv_message = match ::gensrv::__private::downcast::<::gensrv::#runtime_ty, #ty>(__gensrv_message) {
                        ::core::result::Result::Ok(__gensrv_message) => {
                            #call;
                            return;
                        }
                        ::core::result::Result::Err(__gensrv_message) => __gensrv_message,
                    };
                }
            });
            let (param, make) = if *takes_message {
                (quote!(__gensrv_message: ::gensrv::#runtime_ty,), quote!())
            } else {
                (quote!(), quote!(let __gensrv_message = ::gensrv::#runtime_ty;))
            };
            Some(quote! {
                #[allow(unused_variables, unreachable_code)]
                async fn #method(&mut self, #param __gensrv_ctx: &mut ::gensrv::Context<Self>) {
                    #make
                    #(#tries)*
                    ::gensrv::__private::unhandled(__gensrv_ctx.pid(), &__gensrv_message);
                }
            })
        });
        quote!(#(#methods)*)
    }

    /// `format_status`, calling the `#[format_status]` method, whose return type
    /// may be any `Display` (a `String`, a `&str`); if it is not, the error is at
    /// the user's `-> T`.
    fn format_status(&self) -> TokenStream {
        let Some(handler) = self.server.handlers(Kind::FormatStatus).next() else {
            return quote!();
        };
        if handler.rejected {
            return quote!();
        }
        let method = handler.name();
        let span = match &handler.method.sig.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => method.span(),
        };
        // The whole call at the return type, the method's name included.
        // `set_span` rather than a new `Ident` from the name, which panics on a
        // raw identifier (`fn r#type(&self)`).
        let mut method = method.clone();
        method.set_span(span);
        let text = quote_spanned! {span=>
            ::gensrv::__private::StatusText::status_text(Self::#method(self))
        };
        let cfg = handler.cfg_attr();
        quote! {
            #cfg
            fn format_status(&self) -> ::std::string::String {
                #text
            }
        }
    }

    /// `call_name`, `cast_name` or `info_name`: the handler each message goes to,
    /// by its method's name, for traces and crash reports.
    fn handler_names(&self, kind: Kind) -> TokenStream {
        let (method, message, default) = match kind {
            Kind::Call => (quote!(call_name), quote!(Self::Call), "handle_call"),
            Kind::Cast => (quote!(cast_name), quote!(Self::Cast), "handle_cast"),
            _ => (quote!(info_name), quote!(Self::Info), "handle_info"),
        };
        let enum_ident = self.enum_ident(kind);
        let arms = self.server.handlers(kind).map(|handler| {
            let variant = variant_name(handler.name());
            let name = handler.name().to_string();
            let name = name.trim_start_matches("r#");
            let cfg = handler.cfg_attr();
            quote! {
                #cfg
                #enum_ident::#variant { .. } => #name,
            }
        });
        quote! {
            #[allow(unreachable_patterns)]
            fn #method(__gensrv_message: &#message) -> &'static str {
                match __gensrv_message {
                    #(#arms)*
                    _ => #default,
                }
            }
        }
    }

    fn terminate(&self) -> TokenStream {
        let Some(handler) = self.server.handlers(Kind::Terminate).next() else {
            return quote!();
        };
        if handler.rejected {
            return quote!();
        }
        let by_ref = handler.receiver.is_some_and(|r| r.reference.is_some());
        let (bind, this) = if by_ref {
            (
                quote!(let mut __gensrv_this = self;),
                quote!(&mut __gensrv_this,),
            )
        } else {
            (quote!(let __gensrv_this = self;), quote!(__gensrv_this,))
        };
        let args = handler.args.iter().map(|arg| match arg.role {
            Role::Context => quote!(__gensrv_ctx),
            _ => quote!(__gensrv_reason),
        });
        let call = invoke(handler, this, args);
        let cfg = handler.cfg_attr();
        quote! {
            #cfg
            #[allow(unused_variables)]
            async fn terminate(
                self,
                __gensrv_reason: &::gensrv::ExitReason,
                __gensrv_ctx: &mut ::gensrv::Context<Self>,
            ) {
                #bind
                #call;
            }
        }
    }

    /// The impl's where clause, plus `T: Send + 'static` for the state and every
    /// type that crosses to the server's task, each spanned at the user's type.
    /// Every generated item carries it: a type that is neither then fails only
    /// there, at the type, instead of deep inside the runtime's bounds.
    pub(crate) fn where_send(&self) -> TokenStream {
        self.where_send_and(Vec::new())
    }

    /// [`where_send`](Gen::where_send) with more predicates.
    pub(crate) fn where_send_and(&self, more: Vec<TokenStream>) -> TokenStream {
        let mut predicates = self.user_predicates();
        if self.send_checks {
            let state = self.self_ty();
            predicates.extend(send_predicates(std::iter::once((
                state.clone(),
                state.span(),
            ))));
            // A handler under `cfg` may take types that exist only under it, and a
            // where clause cannot be conditional: its checks are in
            // `conditional_send_checks`.
            let sent = self
                .server
                .handlers
                .iter()
                .filter(|h| !h.is_conditional())
                .flat_map(|h| self.sent_types(h));
            predicates.extend(send_predicates(sent));
        }
        predicates.extend(self.wire.iter().cloned());
        predicates.extend(more);
        where_clause(predicates)
    }

    /// The predicates of the impl's where clause, `Self` spelled out (they are
    /// copied onto items where `Self` is another type).
    fn user_predicates(&self) -> Vec<TokenStream> {
        self.item
            .generics
            .where_clause
            .iter()
            .flat_map(|w| w.predicates.iter())
            .map(|predicate| {
                let mut predicate = predicate.clone();
                ReplaceSelf(self.self_ty()).visit_where_predicate_mut(&mut predicate);
                predicate.to_token_stream()
            })
            .collect()
    }

    /// The types a handler's messages and reply carry to and from the server's task,
    /// `Self` spelled out, each with the span of the user's type.
    fn sent_types(&self, handler: &Handler<'_>) -> Vec<(Type, proc_macro2::Span)> {
        let mut types = Vec::new();
        if matches!(handler.kind, Kind::Terminate | Kind::FormatStatus) {
            return types;
        }
        for arg in handler
            .args
            .iter()
            .filter(|a| !matches!(a.role, Role::Context))
        {
            types.push((self.outside(&arg.pat_type.ty), arg.pat_type.ty.span()));
        }
        if handler.kind == Kind::Call && handler.reply_to().is_none() {
            if let ReturnType::Type(_, ty) = &handler.method.sig.output {
                types.push((self.outside(ty), ty.span()));
            }
        }
        types
    }

    /// The `Send + 'static` checks of the handlers under `cfg`: a function with
    /// those bounds, under the handler's `cfg`, per handler. A bound on a concrete
    /// type that does not hold fails there, at the user's type.
    fn conditional_send_checks(&self) -> TokenStream {
        if !self.send_checks {
            return quote!();
        }
        let (impl_generics, _, _) = self.item.generics.split_for_impl();
        let user = self.user_predicates();
        let checks = self
            .server
            .handlers
            .iter()
            .filter(|h| h.is_conditional())
            .filter_map(|handler| {
                let predicates = send_predicates(self.sent_types(handler).into_iter());
                if predicates.is_empty() {
                    return None;
                }
                let cfg = handler.cfg_attr();
                let where_clause = where_clause(user.iter().cloned().chain(predicates).collect());
                Some(quote! {
                    #cfg
                    #[allow(dead_code)]
                    const _: () = {
                        fn __gensrv_send_check #impl_generics () #where_clause {}
                    };
                })
            });
        quote!(#(#checks)*)
    }
}

/// `where` and `predicates`, or nothing. `where <T>::Assoc: ..` would read as
/// `where<..>` (reserved syntax), so a predicate on a qualified path never comes
/// first: another one does, or a predicate that always holds.
fn where_clause(mut predicates: Vec<TokenStream>) -> TokenStream {
    let qualified = |predicate: &TokenStream| {
        matches!(
            predicate.clone().into_iter().next(),
            Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == '<'
        )
    };
    match predicates.iter().position(|p| !qualified(p)) {
        None if predicates.is_empty() => return quote!(),
        None => predicates.insert(0, quote!((): ::core::marker::Sized)),
        Some(first) => predicates[..=first].rotate_right(1),
    }
    quote!(where #(#predicates),*)
}

/// `T: Send + 'static` for each type not plainly `Send`, once per type.
fn send_predicates(types: impl Iterator<Item = (Type, proc_macro2::Span)>) -> Vec<TokenStream> {
    let mut seen = HashSet::new();
    types
        .filter(|(ty, _)| !plainly_send(ty) && seen.insert(ty.to_token_stream().to_string()))
        .map(|(ty, span)| quote_spanned!(span=> #ty: ::core::marker::Send + 'static))
        .collect()
}

/// `Self::method(receiver, args..)`, awaited if the handler is async; spanned at
/// the user's method so that a type error in the glue points there.
fn invoke(
    handler: &Handler<'_>,
    receiver: TokenStream,
    args: impl Iterator<Item = TokenStream>,
) -> TokenStream {
    let method = handler.name();
    let span = handler.method.sig.span();
    let call = quote_spanned!(span=> Self::#method(#receiver #(#args),*));
    if handler.is_async() {
        quote_spanned!(span=> #call.await)
    } else {
        call
    }
}

pub(crate) fn arg_ident(arg: &Arg<'_>) -> Ident {
    match &*arg.pat_type.pat {
        Pat::Ident(ident) => ident.ident.clone(),
        other => Ident::new("message", other.span()),
    }
}

fn kind_word(kind: Kind) -> &'static str {
    match kind {
        Kind::Call => "call",
        Kind::Cast => "cast",
        _ => "message",
    }
}

/// The handler's doc comments, or one generated line if it has none.
/// (`cfg_attr(.., doc = ..)` lines are carried too; without a plain doc line, the
/// generated one comes first, so that the item has docs under every `cfg`.)
fn docs_or(handler: &Handler<'_>, default: impl FnOnce() -> String) -> Vec<TokenStream> {
    let mut docs: Vec<TokenStream> = handler.docs.iter().map(Applied::to_attr).collect();
    if !handler.docs.iter().any(|d| d.conditions.is_empty()) {
        let line = default();
        docs.insert(0, quote!(#[doc = #line]));
    }
    docs
}

/// Whether `ty` is, by its name, a std type that is `Send + 'static` whenever its
/// parameters are: its check would only clutter the generated items' docs. (A user
/// type shadowing such a name only makes its error, if any, land less precisely.)
fn plainly_send(ty: &Type) -> bool {
    const LEAVES: &[&str] = &[
        "bool",
        "char",
        "u8",
        "u16",
        "u32",
        "u64",
        "u128",
        "usize",
        "i8",
        "i16",
        "i32",
        "i64",
        "i128",
        "isize",
        "f32",
        "f64",
        "String",
        "Duration",
        "Instant",
        "SystemTime",
        "Pid",
        "ExitReason",
    ];
    const CONTAINERS: &[&str] = &[
        "Vec", "VecDeque", "Option", "Box", "Result", "HashMap", "BTreeMap", "HashSet", "BTreeSet",
        "ReplyTo",
    ];
    crate::ast::plainly(ty, LEAVES, CONTAINERS, true)
}

/// Replaces `Self` in a type with the server's type.
struct ReplaceSelf<'a>(&'a Type);

impl ReplaceSelf<'_> {
    /// `Self::Assoc` as `<Foo>::Assoc` (the simplest form of `<Foo as ..>::Assoc`),
    /// if `path` starts with `Self::`.
    fn qualified<T: syn::parse::Parse>(
        &self,
        qself: &Option<syn::QSelf>,
        path: &syn::Path,
    ) -> Option<T> {
        if qself.is_some() || path.segments.len() < 2 || path.segments[0].ident != "Self" {
            return None;
        }
        let rest = path.segments.iter().skip(1);
        let server = self.0;
        Some(syn::parse_quote!(<#server>::#(#rest)::*))
    }
}

impl VisitMut for ReplaceSelf<'_> {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::Path(path) = ty {
            if path.qself.is_none() && path.path.is_ident("Self") {
                *ty = self.0.clone();
                return;
            }
            if let Some(qualified) = self.qualified(&path.qself, &path.path) {
                *ty = qualified;
                return;
            }
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }

    // `Self::N` in an array length or a const argument.
    fn visit_expr_mut(&mut self, expr: &mut syn::Expr) {
        if let syn::Expr::Path(path) = expr
            && let Some(qualified) = self.qualified(&path.qself, &path.path)
        {
            *expr = qualified;
            return;
        }
        syn::visit_mut::visit_expr_mut(self, expr);
    }
}
