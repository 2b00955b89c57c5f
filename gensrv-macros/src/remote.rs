//! What `#[gen_server(remote)]` adds to the server (`gensrv::remote`): the wire
//! enums (the call and cast messages as they travel, without their `ReplyTo`s),
//! and `impl Remote`, which turns a wire message into a call or cast of the
//! server and back.
//!
//! All of it goes inside `::gensrv::__private::require_remote! { .. }`, spanned at
//! the `remote` flag: with gensrv's `remote` feature that macro gives its input
//! back; without it, one `compile_error!` at the flag, and none of the items (the
//! macro cannot see gensrv's features, and the items name what only exists with
//! that one).
//!
//! Every argument and reply type must be serializable. Rather than a check per
//! use, which would fail once per use, the generated items carry
//! `T: ::gensrv::__private::Wire` in their where clauses, spanned at the user's
//! type, as the send checks do: an unmet bound on a concrete type fails there
//! (rustc reports the same unmet bound once), and the bodies, which may assume
//! it, add no error of their own.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{GenericParam, Ident, Type};

use crate::ast::Handler;
use crate::attr::Kind;
use crate::expand::{Gen, arg_ident, reply_field, variant_name};

/// The fingerprint's hash: FNV-1a 64 (as `gensrv::__private::fnv1a`, which adds
/// the handlers under `#[cfg]` at compile time).
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// Whether the impl block has type or const parameters: `valid` rejects those with
/// `remote`, and the fallback writes no remote items for them.
pub(crate) fn is_generic(item: &syn::ItemImpl) -> bool {
    item.generics
        .params
        .iter()
        .any(|p| !matches!(p, GenericParam::Lifetime(_)))
}

/// The `Wire` checks of the types the handlers (not under `cfg`) carry, for
/// `Gen::wire`; none for a block with a wrong call or cast (its stub `impl Remote`
/// needs none).
pub(crate) fn wire_predicates(generator: &Gen<'_>) -> Vec<TokenStream> {
    if has_rejected(generator) {
        return Vec::new();
    }
    let remote = Remote(generator);
    remote.wire_predicates(remote.unconditional())
}

fn has_rejected(generator: &Gen<'_>) -> bool {
    generator
        .server
        .handlers
        .iter()
        .any(|h| h.rejected && matches!(h.kind, Kind::Call | Kind::Cast))
}

pub(crate) fn expand(generator: &Gen<'_>, flag: &Ident) -> TokenStream {
    let items = if is_generic(generator.item) {
        quote!()
    } else if has_rejected(generator) {
        stub(generator)
    } else {
        Remote(generator).items()
    };
    quote_spanned! {flag.span()=>
        ::gensrv::__private::require_remote! { #items }
    }
}

/// An `impl Remote` that is never run, for a block with a wrong handler (the crate
/// does not compile): the rest of the crate still finds `Foo::FINGERPRINT`.
fn stub(generator: &Gen<'_>) -> TokenStream {
    let self_ty = generator.self_ty();
    let where_send = generator.where_send();
    quote! {
        #[automatically_derived]
        #[doc(hidden)]
        impl ::gensrv::remote::Remote for #self_ty #where_send {
            const FINGERPRINT: u64 = 0;
            fn dispatch_call(
                _: &::gensrv::ServerRef<Self>,
                _: &[u8],
            ) -> ::core::result::Result<::gensrv::remote::RemoteReply, ::gensrv::remote::Refusal> {
                ::core::unreachable!()
            }
            fn dispatch_cast(
                _: &::gensrv::ServerRef<Self>,
                _: &[u8],
            ) -> ::core::result::Result<(), ::gensrv::remote::Refusal> {
                ::core::unreachable!()
            }
            fn split_call(
                _: <Self as ::gensrv::GenServer>::Call,
            ) -> ::core::result::Result<
                (::std::vec::Vec<u8>, ::gensrv::remote::ReplySink),
                ::gensrv::remote::Refusal,
            > {
                ::core::unreachable!()
            }
            fn encode_cast(
                _: <Self as ::gensrv::GenServer>::Cast,
            ) -> ::core::result::Result<::std::vec::Vec<u8>, ::gensrv::remote::Refusal> {
                ::core::unreachable!()
            }
        }
    }
}

struct Remote<'g, 'a>(&'g Gen<'a>);

/// One call or cast, as the remote items bind it: its variants' name, and its
/// message fields with a fresh binding each.
struct Message<'h> {
    handler: &'h Handler<'h>,
    variant: Ident,
    names: Vec<Ident>,
    bindings: Vec<Ident>,
}

impl<'h> Message<'h> {
    fn new(handler: &'h Handler<'h>) -> Self {
        let names: Vec<Ident> = handler.messages().map(arg_ident).collect();
        let bindings = (0..names.len())
            .map(|i| format_ident!("__gensrv_field{}", i))
            .collect();
        Message {
            handler,
            variant: variant_name(handler.name()),
            names,
            bindings,
        }
    }

    /// `{ a: __gensrv_field0, b: __gensrv_field1 }`, without the braces.
    fn fields(&self) -> TokenStream {
        let (names, bindings) = (&self.names, &self.bindings);
        quote!(#(#names: #bindings,)*)
    }

    /// The field of the call variant that holds its `ReplyTo`.
    fn reply_field(&self) -> Ident {
        match self.handler.reply_to() {
            Some((arg, _)) => arg_ident(arg),
            None => reply_field(self.handler),
        }
    }
}

impl Remote<'_, '_> {
    fn messages(&self, kind: Kind) -> Vec<Message<'_>> {
        self.0.server.handlers(kind).map(Message::new).collect()
    }

    fn wire_ident(&self, kind: Kind) -> Ident {
        let what = if kind == Kind::Call { "Call" } else { "Cast" };
        format_ident!("__{}{}Wire", self.0.name, what)
    }

    /// The types that travel for a handler: its message arguments and, for a call,
    /// its reply, `Self` spelled out, each with the span of the user's type.
    fn wire_types(&self, handler: &Handler<'_>) -> Vec<(Type, Span)> {
        let mut types: Vec<(Type, Span)> = handler
            .messages()
            .map(|arg| (self.0.outside(&arg.pat_type.ty), arg.pat_type.ty.span()))
            .collect();
        if handler.kind == Kind::Call {
            let span = match (handler.reply_to(), &handler.method.sig.output) {
                (Some((_, reply)), _) => reply.span(),
                (None, syn::ReturnType::Type(_, ty)) => ty.span(),
                (None, syn::ReturnType::Default) => handler.name().span(),
            };
            types.push((self.0.reply_type(handler), span));
        }
        types
    }

    /// `T: ::gensrv::__private::Wire` for each type that travels, once per type,
    /// spanned at the user's type; `handlers` are those with (`true`) or without
    /// (`false`) a `cfg`.
    fn wire_predicates<'h>(
        &self,
        handlers: impl Iterator<Item = &'h Handler<'h>>,
    ) -> Vec<TokenStream> {
        let mut seen = std::collections::HashSet::new();
        handlers
            .flat_map(|h| self.wire_types(h))
            .filter(|(ty, _)| {
                !plainly_wire(ty)
                    && !self.names_itself(ty)
                    && seen.insert(ty.to_token_stream().to_string())
            })
            .map(|(ty, span)| quote_spanned!(span=> #ty: ::gensrv::__private::Wire))
            .collect()
    }

    /// Whether `ty` names this server's own handle (`FooRef`, `ServerRef<Foo>`,
    /// `Self`, in any container): its check would ask whether the server's own
    /// impls hold, a cycle the compiler cannot settle (E0275). Left to the wire
    /// enum's serde derive, which needs no where clause for it.
    fn names_itself(&self, ty: &Type) -> bool {
        fn mentions(tokens: TokenStream, names: &[String]) -> bool {
            tokens.into_iter().any(|token| match token {
                proc_macro2::TokenTree::Ident(ident) => names.contains(&ident.to_string()),
                proc_macro2::TokenTree::Group(group) => mentions(group.stream(), names),
                _ => false,
            })
        }
        let names = [
            self.0.handle.to_string(),
            self.0.name.clone(),
            "Self".to_string(),
        ];
        mentions(ty.to_token_stream(), &names)
    }

    fn unconditional(&self) -> impl Iterator<Item = &Handler<'_>> {
        self.0
            .server
            .handlers
            .iter()
            .filter(|h| matches!(h.kind, Kind::Call | Kind::Cast) && !h.is_conditional())
    }

    fn items(&self) -> TokenStream {
        // `where_send` has the `Wire` checks (`Gen::wire`).
        let where_clause = self.0.where_send();
        let wire_enums = [Kind::Call, Kind::Cast].map(|kind| self.wire_enum(kind, &where_clause));
        let conditional_checks = self.conditional_checks();
        let self_ty = self.0.self_ty();
        let fingerprint = self.fingerprint();
        let dispatch_call = self.dispatch_call();
        let dispatch_cast = self.dispatch_cast();
        let split_call = self.split_call();
        let encode_cast = self.encode_cast();
        let handle = self.handle_items(&where_clause);
        quote! {
            #(#wire_enums)*
            #conditional_checks
            #handle

            #[automatically_derived]
            #[allow(unreachable_code, unused_variables)]
            impl ::gensrv::remote::Remote for #self_ty #where_clause {
                #fingerprint
                #dispatch_call
                #dispatch_cast
                #split_call
                #encode_cast
            }
        }
    }

    /// What the handle gains: `Foo::whereis_global`, and serde's traits, so
    /// that a `FooRef` travels inside messages (as its pid and fingerprint).
    fn handle_items(&self, where_clause: &TokenStream) -> TokenStream {
        let self_ty = self.0.self_ty();
        let handle_ty = self.0.handle_ty();
        let vis = &self.0.vis;
        let name = self.0.name.to_string();
        let handle = self.0.handle.to_string();
        let whereis_doc = format!(
            "The `{name}` server registered under the cluster-wide `name` (Erlang's \
             `global:whereis_name`), on any node, as `node` sees it now: a [`{handle}`] \
             whose calls and casts travel to its node (or a local one). `None` if no \
             server holds the name. A name is not typed: a server of another type, or \
             of another version of `{name}`, under that name fails the handle's first \
             call with `CallError::Refused`."
        );
        quote! {
            #[allow(dead_code, unreachable_pub)]
            impl #self_ty #where_clause {
                #[doc = #whereis_doc]
                #vis async fn whereis_global(
                    __gensrv_node: &::gensrv::remote::Node,
                    __gensrv_name: &str,
                ) -> ::core::option::Option<#handle_ty> {
                    ::core::option::Option::map(
                        ::gensrv::ServerRef::<Self>::whereis_global(__gensrv_node, __gensrv_name)
                            .await,
                        ::core::convert::From::from,
                    )
                }
            }

            #[automatically_derived]
            impl ::gensrv::__private::serde::Serialize for #handle_ty #where_clause {
                fn serialize<__GensrvS: ::gensrv::__private::serde::Serializer>(
                    &self,
                    __gensrv_serializer: __GensrvS,
                ) -> ::core::result::Result<__GensrvS::Ok, __GensrvS::Error> {
                    ::gensrv::__private::serde::Serialize::serialize(
                        ::core::ops::Deref::deref(self),
                        __gensrv_serializer,
                    )
                }
            }

            #[automatically_derived]
            impl<'__gensrv_de> ::gensrv::__private::serde::Deserialize<'__gensrv_de> for #handle_ty
                #where_clause
            {
                fn deserialize<__GensrvD: ::gensrv::__private::serde::Deserializer<'__gensrv_de>>(
                    __gensrv_deserializer: __GensrvD,
                ) -> ::core::result::Result<Self, __GensrvD::Error> {
                    ::core::result::Result::map(
                        <::gensrv::ServerRef<#self_ty> as ::gensrv::__private::serde::Deserialize>::deserialize(
                            __gensrv_deserializer,
                        ),
                        ::core::convert::From::from,
                    )
                }
            }
        }
    }

    /// `__FooCallWire` or `__FooCastWire`: the variants of `FooCall`/`FooCast`
    /// without their `ReplyTo`s, serde-derived through gensrv's serde.
    fn wire_enum(&self, kind: Kind, where_clause: &TokenStream) -> TokenStream {
        let ident = self.wire_ident(kind);
        let enum_ident = if kind == Kind::Call {
            &self.0.call
        } else {
            &self.0.cast
        };
        let variants = self.messages(kind).into_iter().map(|message| {
            let cfg = message.handler.cfg_attr();
            let variant = &message.variant;
            let fields = message
                .handler
                .messages()
                .zip(&message.names)
                .map(|(arg, name)| {
                    let ty = self.0.outside(&arg.pat_type.ty);
                    quote!(#name: #ty,)
                });
            let doc = format!("[`{enum_ident}::{variant}`] as it travels.");
            quote!(#cfg #[doc = #doc] #variant { #(#fields)* },)
        });
        let doc = format!(
            "[`{enum_ident}`] as it travels between nodes{}: generated by `#[gen_server(remote)]`.",
            if kind == Kind::Call {
                ", without the `ReplyTo`s"
            } else {
                ""
            }
        );
        let item_vis = self.0.item_vis();
        self.0.definition(quote! {
            #[doc = #doc]
            #[doc(hidden)]
            #[derive(::gensrv::__private::serde::Serialize, ::gensrv::__private::serde::Deserialize)]
            #[serde(crate = "::gensrv::__private::serde")]
            #[allow(private_interfaces, private_bounds, unreachable_pub, dead_code, non_camel_case_types)]
            #item_vis enum #ident #where_clause {
                #(#variants)*
            }
        })
    }

    /// The `Wire` checks of the handlers under `cfg` (a where clause cannot be
    /// conditional): a function with those bounds, under the handler's `cfg`.
    fn conditional_checks(&self) -> TokenStream {
        let checks = self
            .0
            .server
            .handlers
            .iter()
            .filter(|h| matches!(h.kind, Kind::Call | Kind::Cast) && h.is_conditional())
            .filter_map(|handler| {
                let predicates = self.wire_predicates(std::iter::once(handler));
                if predicates.is_empty() {
                    return None;
                }
                let cfg = handler.cfg_attr();
                Some(quote! {
                    #cfg
                    #[allow(dead_code)]
                    const _: () = {
                        fn __gensrv_wire_check() where #(#predicates),* {}
                    };
                })
            });
        quote!(#(#checks)*)
    }

    /// `FINGERPRINT`: FNV-1a 64 of a canonical text of the server's messages: the
    /// server type's name, then per `#[call]` and `#[cast]`, in order, its kind,
    /// method name, argument types and reply type, as written (`Self` spelled out).
    ///
    /// It catches a call or cast added, removed, renamed or moved, and a changed
    /// argument or reply type *name* (`u32` to `u64`, `Vec<A>` to `Vec<B>`). It
    /// does not catch a change inside a type of the user's own, which keeps its
    /// name (a field added to `struct Order`): postcard then fails to decode, or
    /// decodes wrongly, and that is on the user; and it sees two spellings of one
    /// type (`String`, `std::string::String`) as different. Argument names are not
    /// in it: they do not travel.
    ///
    /// The handlers under `#[cfg]` come last, added at compile time by
    /// `gensrv::__private::fnv1a` where they exist.
    fn fingerprint(&self) -> TokenStream {
        let mut text = format!("gensrv-remote 1\nserver {}\n", self.0.name);
        for handler in self.unconditional() {
            text.push_str(&self.canonical(handler));
        }
        let base = fnv1a(FNV_OFFSET, text.as_bytes());
        let conditional = self
            .0
            .server
            .handlers
            .iter()
            .filter(|h| matches!(h.kind, Kind::Call | Kind::Cast) && h.is_conditional())
            .map(|handler| {
                let cfg = handler.cfg_attr();
                let bytes =
                    syn::LitByteStr::new(self.canonical(handler).as_bytes(), Span::call_site());
                quote! {
                    #cfg
                    let __gensrv_hash = ::gensrv::__private::fnv1a(__gensrv_hash, #bytes);
                }
            });
        let doc = "A hash of this server's calls and casts, with their argument and reply \
                   types, as named: two nodes talk to it only if they agree on it (a change \
                   inside a type of your own that keeps its name is not seen).";
        quote! {
            #[doc = #doc]
            const FINGERPRINT: u64 = {
                let __gensrv_hash: u64 = #base;
                #(#conditional)*
                __gensrv_hash
            };
        }
    }

    /// One handler's line of the fingerprint's text: `call name(A, B) -> R`.
    fn canonical(&self, handler: &Handler<'_>) -> String {
        let kind = if handler.kind == Kind::Call {
            "call"
        } else {
            "cast"
        };
        let name = handler.name().to_string();
        let args: Vec<String> = handler
            .messages()
            .map(|arg| {
                self.0
                    .outside(&arg.pat_type.ty)
                    .to_token_stream()
                    .to_string()
            })
            .collect();
        let mut line = format!(
            "{kind} {}({})",
            name.trim_start_matches("r#"),
            args.join(", ")
        );
        if handler.kind == Kind::Call {
            let reply = self.0.reply_type(handler).to_token_stream().to_string();
            line.push_str(&format!(" -> {reply}"));
        }
        line.push('\n');
        line
    }

    fn dispatch_call(&self) -> TokenStream {
        let wire = self.wire_ident(Kind::Call);
        let call = &self.0.call;
        let arms = self.messages(Kind::Call).into_iter().map(|message| {
            let cfg = message.handler.cfg_attr();
            let variant = &message.variant;
            let fields = message.fields();
            let reply_field = message.reply_field();
            let call_fn = if message.handler.reply_to().is_some() {
                quote!(call_deferred)
            } else {
                quote!(call)
            };
            quote! {
                #cfg
                #wire::#variant { #fields } => {
                    // No timeout of its own here: the caller's, on its node,
                    // decides (a reply it no longer waits for is dropped there).
                    let __gensrv_call = ::gensrv::Call::timeout(
                        ::gensrv::ServerRef::#call_fn(
                            __gensrv_server,
                            |__gensrv_reply_to| #call::#variant { #fields #reply_field: __gensrv_reply_to },
                        ),
                        ::core::time::Duration::MAX,
                    );
                    let __gensrv_reply: ::gensrv::remote::RemoteReply = ::std::boxed::Box::pin(async move {
                        let __gensrv_reply = ::core::result::Result::map_err(
                            __gensrv_call.await,
                            ::gensrv::remote::Refusal::Failed,
                        )?;
                        ::gensrv::remote::to_body(&__gensrv_reply)
                    });
                    __gensrv_reply
                }
            }
        });
        quote! {
            fn dispatch_call(
                __gensrv_server: &::gensrv::ServerRef<Self>,
                __gensrv_body: &[u8],
            ) -> ::core::result::Result<::gensrv::remote::RemoteReply, ::gensrv::remote::Refusal> {
                ::core::result::Result::Ok(
                    match ::gensrv::remote::from_body::<#wire>(__gensrv_body)? {
                        #(#arms)*
                    },
                )
            }
        }
    }

    fn dispatch_cast(&self) -> TokenStream {
        let wire = self.wire_ident(Kind::Cast);
        let cast = &self.0.cast;
        let arms = self.messages(Kind::Cast).into_iter().map(|message| {
            let cfg = message.handler.cfg_attr();
            let variant = &message.variant;
            let fields = message.fields();
            quote! {
                #cfg
                #wire::#variant { #fields } => #cast::#variant { #fields },
            }
        });
        quote! {
            fn dispatch_cast(
                __gensrv_server: &::gensrv::ServerRef<Self>,
                __gensrv_body: &[u8],
            ) -> ::core::result::Result<(), ::gensrv::remote::Refusal> {
                let __gensrv_cast = match ::gensrv::remote::from_body::<#wire>(__gensrv_body)? {
                    #(#arms)*
                };
                ::gensrv::remote::deliver_cast(__gensrv_server, __gensrv_cast)
            }
        }
    }

    fn split_call(&self) -> TokenStream {
        let wire = self.wire_ident(Kind::Call);
        let call = &self.0.call;
        let arms = self.messages(Kind::Call).into_iter().map(|message| {
            let cfg = message.handler.cfg_attr();
            let variant = &message.variant;
            let fields = message.fields();
            let reply_field = message.reply_field();
            quote! {
                #cfg
                #call::#variant { #fields #reply_field: __gensrv_reply_to } => (
                    ::gensrv::remote::to_body(&#wire::#variant { #fields })?,
                    ::gensrv::remote::ReplySink::new(__gensrv_reply_to),
                ),
            }
        });
        quote! {
            fn split_call(
                __gensrv_call: <Self as ::gensrv::GenServer>::Call,
            ) -> ::core::result::Result<
                (::std::vec::Vec<u8>, ::gensrv::remote::ReplySink),
                ::gensrv::remote::Refusal,
            > {
                ::core::result::Result::Ok(match __gensrv_call {
                    #(#arms)*
                })
            }
        }
    }

    fn encode_cast(&self) -> TokenStream {
        let wire = self.wire_ident(Kind::Cast);
        let cast = &self.0.cast;
        let arms = self.messages(Kind::Cast).into_iter().map(|message| {
            let cfg = message.handler.cfg_attr();
            let variant = &message.variant;
            let fields = message.fields();
            quote! {
                #cfg
                #cast::#variant { #fields } => ::gensrv::remote::to_body(&#wire::#variant { #fields }),
            }
        });
        quote! {
            fn encode_cast(
                __gensrv_cast: <Self as ::gensrv::GenServer>::Cast,
            ) -> ::core::result::Result<::std::vec::Vec<u8>, ::gensrv::remote::Refusal> {
                match __gensrv_cast {
                    #(#arms)*
                }
            }
        }
    }
}

/// Whether `ty` is, by its name, a std type that serde writes and reads whenever
/// its parameters are: its check would only clutter the generated items. (A user
/// type shadowing such a name only makes its error, if any, land less precisely.)
fn plainly_wire(ty: &Type) -> bool {
    const LEAVES: &[&str] = &[
        "bool", "char", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64",
        "i128", "isize", "f32", "f64", "String",
    ];
    const CONTAINERS: &[&str] = &["Vec", "VecDeque", "Option", "Box", "Result", "BTreeMap"];
    crate::ast::plainly(ty, LEAVES, CONTAINERS, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_has_the_published_values() {
        // From the FNV test vectors.
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn a_type_of_the_users_own_is_checked_and_std_ones_are_not() {
        let plain: Vec<Type> = vec![
            syn::parse_quote!(String),
            syn::parse_quote!(()),
            syn::parse_quote!(Vec<Option<(u8, String)>>),
        ];
        let checked: Vec<Type> = vec![
            syn::parse_quote!(Order),
            syn::parse_quote!(Vec<Order>),
            syn::parse_quote!([u8; 64]),
            syn::parse_quote!(&'static str),
        ];
        assert!(plain.iter().all(plainly_wire));
        assert!(!checked.iter().any(plainly_wire));
    }
}
