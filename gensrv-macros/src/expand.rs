//! Writing the server: the cleaned impl block, the client handle, the message
//! enums, `impl GenServer`, and the associated functions.
//!
//! Generated code names everything by absolute path (`::gensrv::..`, `::core::..`),
//! binds message fields to fresh names, and gives glue the span of the user's
//! tokens where a type error could surface, so that errors land in the user's code.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{GenericParam, Ident, ItemImpl, Pat, ReturnType, Type, Visibility};

use crate::ast::{Arg, Handler, Role, Server, last_segment_is};
use crate::attr::{Args, Kind};

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
    Ident::new(&name, method.span())
}

pub(crate) fn expand(args: &Args, server: &Server<'_>) -> TokenStream {
    let item = server.item;
    let ident = match &*item.self_ty {
        Type::Path(path) => path.path.segments.last().expect("validated").ident.clone(),
        _ => unreachable!("validated"),
    };
    let server_gen = Gen {
        server,
        item,
        name: ident.to_string(),
        handle: format_ident!("{}Ref", ident),
        call: format_ident!("{}Call", ident),
        cast: format_ident!("{}Cast", ident),
        info: format_ident!("{}Info", ident),
        vis: args.vis.clone().unwrap_or_else(|| syn::parse_quote!(pub)),
        send_checks: args.send_checks(),
    };
    let cleaned = crate::fallback::strip_markers(item);
    let assoc = server_gen.associated_fns();
    let handle = server_gen.handle();
    let enums = [Kind::Call, Kind::Cast, Kind::Info].map(|kind| server_gen.message_enum(kind));
    let from_info = server_gen.info_from_impls();
    let genserver = server_gen.impl_genserver();
    quote! {
        #cleaned
        #assoc
        #handle
        #(#enums)*
        #from_info
        #genserver
    }
}

struct Gen<'a> {
    server: &'a Server<'a>,
    item: &'a ItemImpl,
    /// The server type's name, for docs.
    name: String,
    handle: Ident,
    call: Ident,
    cast: Ident,
    info: Ident,
    vis: Visibility,
    send_checks: bool,
}

/// One field of a message variant, and the handler argument it comes from.
struct Field<'a> {
    name: Ident,
    ty: Type,
    arg: Option<&'a Arg<'a>>,
}

impl Gen<'_> {
    fn self_ty(&self) -> &Type {
        &self.item.self_ty
    }

    /// `ty` with `Self` spelled out, for use outside the server's own impl blocks.
    fn outside(&self, ty: &Type) -> Type {
        let mut ty = ty.clone();
        ReplaceSelf(self.self_ty()).visit_type_mut(&mut ty);
        ty
    }

    fn enum_ident(&self, kind: Kind) -> &Ident {
        match kind {
            Kind::Call => &self.call,
            Kind::Cast => &self.cast,
            Kind::Info => &self.info,
            Kind::Init | Kind::Terminate => unreachable!("no message enum"),
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
        let init = self.server.handlers(Kind::Init).next();
        let start_arg = init.and_then(|h| h.messages().next());
        let (params, arg, what) = match (init, start_arg) {
            (None, _) => (
                quote!(state: Self),
                quote!(state),
                "`state` is the server's state, as it has no `#[init]`.".to_string(),
            ),
            (Some(init), None) => (
                quote!(),
                quote!(()),
                format!("Its `#[init]` is `{}`.", init.name()),
            ),
            (Some(init), Some(arg)) => {
                let ty = &arg.pat_type.ty;
                (
                    quote!(arg: #ty),
                    quote!(arg),
                    format!("`arg` goes to its `#[init]`, `{}`.", init.name()),
                )
            }
        };
        let start_doc = format!(
            "Starts a `{name}` server. {what}\n\n\
             Await the returned [`Start`](::gensrv::Start) (after `.name(..)` or \
             `.init_timeout(..)` if wanted) for its [`{handle}`], once init has finished."
        );
        let whereis_doc =
            format!("The handle of the `{name}` server registered as `name`, if one is running.");
        let arg_ty = match (init, start_arg) {
            (None, _) => quote!(Self),
            (Some(_), None) => quote!(()),
            (Some(_), Some(arg)) => arg.pat_type.ty.to_token_stream(),
        };
        let child_param = match (init, start_arg) {
            (Some(_), None) => quote!(),
            (None, _) => quote!(state: A),
            (Some(_), Some(_)) => quote!(arg: A),
        };
        let child_arg = match (init, start_arg) {
            (Some(_), None) => quote!(()),
            (None, _) => quote!(state),
            (Some(_), Some(_)) => quote!(arg),
        };
        let child_spec_doc = format!(
            "How a supervisor starts a `{name}` server: a [`ChildSpec`](::gensrv::supervisor::ChildSpec) \
             with id `\"{name}\"`, that gives each start (and restart) a clone of its argument. \
             {what}"
        );
        let child_spec = if child_param.is_empty() {
            quote! {
                #[doc = #child_spec_doc]
                #vis fn child_spec() -> ::gensrv::supervisor::ChildSpec {
                    ::gensrv::supervisor::ChildSpec::__new::<Self, ()>(()).id(#name)
                }
            }
        } else {
            // Generic over the argument, so that `Clone` is required only where
            // `child_spec` is used, not of every server's argument.
            quote! {
                #[doc = #child_spec_doc]
                #vis fn child_spec<A>(#child_param) -> ::gensrv::supervisor::ChildSpec
                where
                    A: ::gensrv::__private::Is<#arg_ty>
                        + ::core::clone::Clone
                        + ::core::marker::Send
                        + 'static,
                {
                    ::gensrv::supervisor::ChildSpec::__new::<Self, A>(#child_arg).id(#name)
                }
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
                #vis fn whereis(name: &str) -> ::core::option::Option<#handle_ty> {
                    ::core::option::Option::map(
                        ::gensrv::ServerRef::<Self>::whereis(name),
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
    fn handle_ty(&self) -> TokenStream {
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
        let Gen {
            name, handle, vis, ..
        } = self;
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
             The `Server` parameter is always `{name}` (its default); it only makes the \
             handle as visible as `{name}` is."
        );
        let phantom_types = self.phantom_types();
        let phantom = if phantom_types.is_empty() {
            quote!()
        } else {
            quote!(_params: ::core::marker::PhantomData<fn() -> (#(#phantom_types,)*)>,)
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
        // Impls over any `Server`, so that they name no private type.
        let any = quote!(<#(#generic_params,)* Server: ::gensrv::GenServer>);
        let any_ty = quote!(#handle<#(#params,)* Server>);
        quote! {
            #[doc = #doc]
            #[allow(private_interfaces, private_bounds, unreachable_pub, dead_code)]
            #vis struct #handle<#(#generic_params,)* Server: ::gensrv::GenServer = #self_ty>
            #where_send
            {
                inner: ::gensrv::ServerRef<Server>,
                #phantom
            }

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
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    let mut tuple = f.debug_tuple(#handle_str);
                    tuple.field(&::gensrv::ServerRef::pid(&self.inner));
                    if let ::core::option::Option::Some(name) = ::gensrv::ServerRef::name(&self.inner) {
                        tuple.field(&name);
                    }
                    tuple.finish()
                }
            }

            #[automatically_derived]
            impl #any ::core::cmp::PartialEq for #any_ty #where_send {
                fn eq(&self, other: &Self) -> bool {
                    self.inner == other.inner
                }
            }

            #[automatically_derived]
            impl #any ::core::cmp::Eq for #any_ty #where_send {}

            #[automatically_derived]
            impl #any ::core::hash::Hash for #any_ty #where_send {
                fn hash<H: ::core::hash::Hasher>(&self, state: &mut H) {
                    ::core::hash::Hash::hash(&self.inner, state)
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
                type Target = ::gensrv::ServerRef<Server>;
                fn deref(&self) -> &Self::Target {
                    &self.inner
                }
            }

            #[automatically_derived]
            impl #any ::core::convert::From<::gensrv::ServerRef<Server>> for #any_ty #where_send {
                fn from(inner: ::gensrv::ServerRef<Server>) -> Self {
                    #handle { inner, #phantom_init }
                }
            }

            #[automatically_derived]
            impl #any ::core::convert::From<#any_ty> for ::gensrv::ServerRef<Server> #where_send {
                fn from(handle: #any_ty) -> Self {
                    handle.inner
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
        match handler.kind {
            Kind::Call => {
                let reply = self.reply_type(handler);
                let (reply_field, call_fn) = match handler.reply_to() {
                    Some((arg, _)) => (arg_ident(arg), quote!(call_deferred)),
                    None => (format_ident!("{}", REPLY_FIELD), quote!(call)),
                };
                quote! {
                    #(#docs)*
                    #vis fn #method(&self, #(#params),*) -> ::gensrv::Call<#reply> {
                        ::gensrv::ServerRef::#call_fn(&self.inner, |reply_to| #enum_ident::#variant {
                            #(#idents,)*
                            #reply_field: reply_to,
                        })
                    }
                }
            }
            Kind::Cast => quote! {
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
    fn reply_type(&self, handler: &Handler<'_>) -> Type {
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
                name: format_ident!("{}", REPLY_FIELD),
                ty: syn::parse_quote!(::gensrv::ReplyTo<#reply>),
                arg: None,
            });
        }
        fields
    }

    fn message_enum(&self, kind: Kind) -> TokenStream {
        let Gen { name, vis, .. } = self;
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
            if fields.is_empty() {
                return quote!(#(#docs)* #variant,);
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
            quote!(#(#docs)* #variant { #(#fields)* },)
        });
        let phantom = self.phantom_variant();
        quote! {
            #[doc = #doc]
            #[allow(private_interfaces, private_bounds, unreachable_pub, dead_code)]
            #vis enum #ident #generics #where_send {
                #(#variants)*
                #phantom
            }
        }
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
            Some(quote_spanned! {arg.pat_type.ty.span()=>
                #[automatically_derived]
                impl #impl_generics ::core::convert::From<#ty> for #info #ty_generics #where_send {
                    fn from(gensrv_message: #ty) -> Self {
                        #info::#variant { #field: gensrv_message }
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
        let arg_ty = match self.server.handlers(Kind::Init).next() {
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
            }
        }
    }

    fn init(&self) -> TokenStream {
        let Some(handler) = self.server.handlers(Kind::Init).next() else {
            return quote! {
                async fn init(
                    state: Self,
                    _: &mut ::gensrv::Context<Self>,
                ) -> ::gensrv::Init<Self> {
                    ::gensrv::Init::Ready(state)
                }
            };
        };
        let args = handler.args.iter().map(|arg| match arg.role {
            Role::Context => quote!(ctx),
            _ => quote!(arg),
        });
        let call = invoke(handler, quote!(), args);
        let output = match &handler.method.sig.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => handler.name().span(),
        };
        let into_init = quote_spanned! {output=>
            ::gensrv::__private::IntoInit::<Self>::into_init(returned)
        };
        quote! {
            #[allow(unused_variables)]
            async fn init(
                arg: Self::Arg,
                ctx: &mut ::gensrv::Context<Self>,
            ) -> ::gensrv::Init<Self> {
                let returned = #call;
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
                .map(|i| format_ident!("field{}", i))
                .collect();
            let names = fields.iter().map(|f| &f.name);
            let mut next = bindings.iter();
            let args: Vec<TokenStream> = handler
                .args
                .iter()
                .map(|arg| match arg.role {
                    Role::Context => quote!(ctx),
                    _ => next.next().expect("a field per argument").to_token_stream(),
                })
                .collect();
            let call = invoke(handler, quote!(self,), args.into_iter());
            let body = if kind == Kind::Call && handler.reply_to().is_none() {
                let reply = bindings.last().expect("the reply field");
                quote! {
                    let reply = #call;
                    let _ = ::gensrv::ReplyTo::send(#reply, reply);
                }
            } else {
                quote!(#call;)
            };
            quote! {
                #enum_ident::#variant { #(#names: #bindings),* } => { #body }
            }
        });
        quote! {
            #[allow(unused_variables)]
            async fn #method(&mut self, message: #message, ctx: &mut ::gensrv::Context<Self>) {
                match message {
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
                    h.messages()
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
                    Role::Context => quote!(ctx),
                    _ => quote!(message),
                });
                let call = invoke(handler, quote!(self,), args);
                quote! {
                    let message = match ::gensrv::__private::downcast::<::gensrv::#runtime_ty, #ty>(message) {
                        ::core::result::Result::Ok(message) => {
                            #call;
                            return;
                        }
                        ::core::result::Result::Err(message) => message,
                    };
                }
            });
            let (param, make) = if *takes_message {
                (quote!(message: ::gensrv::#runtime_ty,), quote!())
            } else {
                (quote!(), quote!(let message = ::gensrv::#runtime_ty;))
            };
            Some(quote! {
                #[allow(unused_variables, unreachable_code)]
                async fn #method(&mut self, #param ctx: &mut ::gensrv::Context<Self>) {
                    #make
                    #(#tries)*
                    ::gensrv::__private::unhandled(ctx.pid(), &message);
                }
            })
        });
        quote!(#(#methods)*)
    }

    fn terminate(&self) -> TokenStream {
        let Some(handler) = self.server.handlers(Kind::Terminate).next() else {
            return quote!();
        };
        let by_ref = handler.receiver.is_some_and(|r| r.reference.is_some());
        let (bind, this) = if by_ref {
            (quote!(let mut this = self;), quote!(&mut this,))
        } else {
            (quote!(let this = self;), quote!(this,))
        };
        let args = handler.args.iter().map(|arg| match arg.role {
            Role::Context => quote!(ctx),
            _ => quote!(reason),
        });
        let call = invoke(handler, this, args);
        quote! {
            #[allow(unused_variables)]
            async fn terminate(
                self,
                reason: &::gensrv::ExitReason,
                ctx: &mut ::gensrv::Context<Self>,
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
    fn where_send(&self) -> TokenStream {
        if !self.send_checks {
            let where_clause = &self.item.generics.where_clause;
            return quote!(#where_clause);
        }
        let mut predicates: Vec<TokenStream> = self
            .item
            .generics
            .where_clause
            .iter()
            .flat_map(|w| w.predicates.iter())
            .map(ToTokens::to_token_stream)
            .collect();
        let mut seen = std::collections::HashSet::new();
        let mut send = |ty: &Type, span: proc_macro2::Span| {
            if !plainly_send(ty) && seen.insert(ty.to_token_stream().to_string()) {
                predicates.push(quote_spanned!(span=> #ty: ::core::marker::Send + 'static));
            }
        };
        let state = self.self_ty();
        send(state, state.span());
        for handler in &self.server.handlers {
            if handler.kind == Kind::Terminate {
                continue;
            }
            for arg in handler
                .args
                .iter()
                .filter(|a| !matches!(a.role, Role::Context))
            {
                send(&self.outside(&arg.pat_type.ty), arg.pat_type.ty.span());
            }
            if handler.kind == Kind::Call && handler.reply_to().is_none() {
                if let ReturnType::Type(_, ty) = &handler.method.sig.output {
                    send(&self.outside(ty), ty.span());
                }
            }
        }
        quote!(where #(#predicates),*)
    }
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

fn arg_ident(arg: &Arg<'_>) -> Ident {
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
fn docs_or(handler: &Handler<'_>, default: impl FnOnce() -> String) -> Vec<TokenStream> {
    let docs: Vec<TokenStream> = handler.docs().map(ToTokens::to_token_stream).collect();
    if docs.is_empty() {
        let line = default();
        vec![quote!(#[doc = #line])]
    } else {
        docs
    }
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
    match ty {
        Type::Tuple(tuple) => tuple.elems.iter().all(plainly_send),
        Type::Array(array) => plainly_send(&array.elem),
        Type::Paren(paren) => plainly_send(&paren.elem),
        Type::Group(group) => plainly_send(&group.elem),
        Type::Path(path) if path.qself.is_none() => {
            let Some(last) = path.path.segments.last() else {
                return false;
            };
            let name = last.ident.to_string();
            match &last.arguments {
                syn::PathArguments::None => LEAVES.contains(&name.as_str()),
                syn::PathArguments::AngleBracketed(args) => {
                    CONTAINERS.contains(&name.as_str())
                        && args.args.iter().all(|arg| match arg {
                            syn::GenericArgument::Type(ty) => plainly_send(ty),
                            _ => false,
                        })
                }
                syn::PathArguments::Parenthesized(_) => false,
            }
        }
        _ => false,
    }
}

/// Replaces `Self` in a type with the server's type.
struct ReplaceSelf<'a>(&'a Type);

impl VisitMut for ReplaceSelf<'_> {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::Path(path) = ty {
            if path.qself.is_none() && path.path.is_ident("Self") {
                *ty = self.0.clone();
                return;
            }
            if path.qself.is_none()
                && path.path.segments.len() > 1
                && path.path.segments[0].ident == "Self"
            {
                // `Self::Assoc` becomes `<Foo as ..>::Assoc`'s simplest form, `<Foo>::Assoc`.
                let rest: Vec<_> = path.path.segments.iter().skip(1).collect();
                let server = self.0;
                *ty = syn::parse_quote!(<#server>::#(#rest)::*);
                return;
            }
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
}
