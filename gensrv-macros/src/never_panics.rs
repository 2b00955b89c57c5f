//! The macro never panics: on any tokens, as arguments or as the item, it returns
//! code, or the user's item next to `compile_error!`s, or a `compile_error!` alone.
//! A panic would show the user "custom attribute panicked" and nothing at their code.

use std::panic::{AssertUnwindSafe, catch_unwind};

use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;

const IDENTS: &[&str] = &[
    "_1",
    "_",
    "__",
    "_1a",
    "a_1",
    "x",
    "foo",
    "Foo",
    "self_",
    "_self",
    "Self_",
    "r#type",
    "r#match",
    "r#Foo",
    "self",
    "Self",
    "super",
    "crate",
    "fn",
    "impl",
    "async",
    "const",
    "unsafe",
    "extern",
    "pub",
    "mut",
    "ref",
    "dyn",
    "where",
    "for",
    "type",
    "struct",
    "enum",
    "await",
    "start",
    "whereis",
    "child_spec",
    "reply_to",
    "ctx",
    "Context",
    "ReplyTo",
    "ExitReason",
    "Timeout",
    "Down",
    "Exit",
    "call",
    "cast",
    "info",
    "init",
    "terminate",
    "format_status",
    "handle_call",
    "gen_server",
    "vis",
    "send_checks",
    "cfg",
    "cfg_attr",
    "doc",
    "u8",
    "String",
    "Vec",
    "Option",
    "true",
    "\u{e9}t\u{e9}",
    "\u{df}",
];

const PUNCTS: &[char] = &[
    '+', '-', '*', '/', '%', '^', '!', '&', '|', '=', '<', '>', '@', '.', ',', ';', ':', '#', '$',
    '?', '~', '\'',
];

/// Fragments that bring random streams closer to what the macro reads.
const SNIPPETS: &[&str] = &[
    "#[call]",
    "#[cast]",
    "#[info]",
    "#[init]",
    "#[terminate]",
    "#[format_status]",
    "#[call(x)]",
    "#[cast = 1]",
    "#[handle_call]",
    "#[handle_continue]",
    "#[code_change]",
    "#[gen_server]",
    "#[gen_server(vis = pub(crate))]",
    "#[gen_server(send_checks = false)]",
    "#[cfg(test)]",
    "#[cfg_attr(test, call)]",
    "#[cfg_attr(all(), cfg_attr(unix, cast), doc = \"d\")]",
    "#[cfg_attr(x)]",
    "#[doc = \"doc\"]",
    "/// doc",
    "impl Foo",
    "impl<T> Foo<T>",
    "impl Tr for Foo",
    "fn _1(&mut self)",
    "async fn",
    "&self",
    "&mut self",
    "self: Box<Self>",
    "mut self",
    "ctx: &mut Context<Self>",
    "reply: ReplyTo<u8>",
    "reason: &ExitReason",
    "-> Self",
    "-> u8",
    "-> impl Send",
    "vis = pub(crate)",
    "vis = pub(in crate::a)",
    "send_checks = false",
    "send_checks = 1",
    "remote",
    "where T: Send",
    "<T, const N: usize>",
    "<'a>",
    "'a",
    "Self::Assoc",
    "<Self as Tr>::Assoc",
    "_: Timeout",
    "m: gensrv::Down",
    "m!{}",
    "const X: u8 = 1;",
    "type T = u8;",
    "::",
    "->",
    "=>",
    "..",
];

/// Types for the "change a type" mutation.
const TYPES: &[&str] = &[
    "u8",
    "()",
    "!",
    "_",
    "Self",
    "&Self",
    "&mut Self",
    "Box<Self>",
    "Vec<Self>",
    "[Self; 2]",
    "(Self, u8)",
    "Self::Assoc",
    "Self::Assoc<u8>",
    "Self::Fn(u8) -> u8",
    "<Self as Tr>::Assoc",
    "&mut Context<Self>",
    "&Context<Self>",
    "Context<Self>",
    "gensrv::Context<Self>",
    "ReplyTo<u8>",
    "ReplyTo<Self>",
    "ReplyTo",
    "ReplyTo<u8, u8>",
    "ReplyTo<'a>",
    "ReplyTo()",
    "&ExitReason",
    "ExitReason",
    "Timeout",
    "gensrv::Exit",
    "impl Send",
    "dyn Send",
    "dyn Fn(Self) -> Self",
    "fn(Self) -> Self",
    "Option<impl Send>",
    "m!()",
    "&'a str",
    "*const u8",
];

/// The arguments of `#[gen_server(..)]` the mutated servers are tried with.
const ARGS: &[&str] = &[
    "",
    "vis = pub(crate)",
    "send_checks = false",
    "vis = pub, send_checks = true",
    "bogus, vis = pub(self)",
    "send_checks = 1",
    "remote",
    "remote, vis = pub(crate)",
    "remote, remote",
];

/// Impl blocks with holes (`$`) for random tokens, so that random tokens get past
/// the parser into every pass.
const TEMPLATES: &[&str] = &[
    "impl $ { $ }",
    "$ impl Foo { #[call] fn f(&self) {} }",
    "impl Foo { $ fn f($) $ {} }",
    "impl Foo { #[$] fn f(&mut self, $) {} }",
    "impl Foo { #[call] fn $(&self, x: $) -> $ {} #[cast] fn $(&mut self) {} }",
    "impl Foo { #[cast] fn f(&mut self, $: $, ctx: &mut Context<Self>) {} }",
    "impl<$> Foo<$> where $ { #[info] fn f(&mut self, m: $) {} }",
    "impl Foo { #[init] fn i($) -> $ {} #[terminate] fn t($) {} }",
    "impl Foo { #[format_status] fn s($) -> $ {} #[format_status] $ }",
    "impl Foo { #[call] async fn f(&self, r: ReplyTo<$>, $) {} #[info] fn g(&self, $) {} }",
    "impl Foo { #[cfg_attr($, $)] fn f(&self) {} }",
];

/// Servers the macro accepts, to mutate.
const SERVERS: &[&str] = &[
    r#"
    impl Counter {
        #[init]
        fn init(start: u64) -> Self { Counter { n: start } }
        #[call]
        fn get(&self) -> u64 { self.n }
        #[cast]
        fn add(&mut self, by: u64) { self.n += by; }
        #[info]
        fn tick(&mut self, _: Timeout, ctx: &mut Context<Self>) {}
        #[terminate]
        async fn stop(&mut self, reason: &ExitReason) {}
    }
    "#,
    r#"
    impl<K: Clone, V, const N: usize> Cache<K, V, N> where K: Send {
        /// Looks `key` up.
        #[call]
        async fn lookup(&mut self, key: K, reply: ReplyTo<Option<V>>, ctx: &mut Context<Self>) {}
        #[cast]
        fn put(&self, key: K, value: V) {}
        #[info]
        fn down(&mut self, d: gensrv::Down) {}
        #[info]
        fn pair(&mut self, m: (Self, u8)) {}
        fn helper(&self) -> Self::Out { todo!() }
        const X: u8 = 1;
        type T = u8;
    }
    "#,
    r#"
    impl Echo {
        #[cfg_attr(all(), call)]
        fn echo(&self, x: Self) -> Vec<Self> { vec![x] }
        #[cfg(test)]
        #[cast]
        fn r#type(&mut self) {}
        #[init]
        fn init() -> Result<Self, String> { Ok(Echo) }
        #[call]
        fn with_ctx(&mut self, a: u8, b: String, ctx: &mut Context<Self>) -> (u8, String) { (a, b) }
        m! {}
    }
    "#,
    r#"
    impl a::b::Odd {
        #[cast]
        fn _1(&mut self) {}
        #[call]
        fn self_(&self) {}
        #[info]
        fn exit(&mut self, e: Exit) {}
        #[terminate]
        fn done(self, ctx: &mut Context<Self>) {}
    }
    "#,
];

fn parse(source: &str) -> TokenStream {
    source.parse().expect("a test fragment lexes")
}

fn ident(name: &str) -> TokenStream {
    let ident = match name.strip_prefix("r#") {
        Some(raw) => Ident::new_raw(raw, Span::call_site()),
        None => Ident::new(name, Span::call_site()),
    };
    TokenTree::Ident(ident).into()
}

fn literal(choice: u8) -> TokenStream {
    let literal = match choice % 8 {
        0 => Literal::u8_suffixed(1),
        1 => Literal::i32_unsuffixed(-1),
        2 => Literal::usize_unsuffixed(0),
        3 => Literal::f64_unsuffixed(1.5),
        4 => Literal::string("s"),
        5 => Literal::character('c'),
        6 => Literal::byte_string(b"b"),
        _ => Literal::string(""),
    };
    TokenTree::Literal(literal).into()
}

fn leaf() -> impl Strategy<Value = TokenStream> {
    prop_oneof![
        3 => select(IDENTS).prop_map(ident),
        2 => (select(PUNCTS), any::<bool>()).prop_map(|(ch, joint)| {
            let spacing = if joint { Spacing::Joint } else { Spacing::Alone };
            TokenTree::Punct(Punct::new(ch, spacing)).into()
        }),
        1 => any::<u8>().prop_map(literal),
        3 => select(SNIPPETS).prop_map(parse),
        2 => select(TYPES).prop_map(parse),
    ]
}

fn delimiter() -> impl Strategy<Value = Delimiter> {
    select(
        &[
            Delimiter::Parenthesis,
            Delimiter::Brace,
            Delimiter::Bracket,
            Delimiter::None,
        ][..],
    )
}

fn concat(parts: Vec<TokenStream>) -> TokenStream {
    parts.into_iter().collect()
}

/// Any token stream, groups of every delimiter nested a few levels deep.
fn tokens() -> impl Strategy<Value = TokenStream> {
    let tree = leaf().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(concat),
            (delimiter(), prop::collection::vec(inner, 0..8)).prop_map(|(delimiter, parts)| {
                TokenTree::Group(Group::new(delimiter, concat(parts))).into()
            }),
        ]
    });
    prop::collection::vec(tree, 0..12).prop_map(concat)
}

/// `template` with each `$` replaced by the next of `fillings`, at any depth.
fn fill(template: TokenStream, fillings: &mut impl Iterator<Item = TokenStream>) -> TokenStream {
    template
        .into_iter()
        .flat_map(|tree| match tree {
            TokenTree::Punct(p) if p.as_char() == '$' => fillings.next().unwrap_or_default(),
            TokenTree::Group(group) => {
                let inner = fill(group.stream(), fillings);
                TokenTree::Group(Group::new(group.delimiter(), inner)).into()
            }
            other => other.into(),
        })
        .collect()
}

/// A template's impl block, its holes filled with anything.
fn filled_template() -> impl Strategy<Value = TokenStream> {
    let filling = prop_oneof![
        2 => leaf(),
        1 => tokens(),
    ];
    (select(TEMPLATES), prop::collection::vec(filling, 6))
        .prop_map(|(template, fillings)| fill(parse(template), &mut fillings.into_iter()))
}

/// A token tree that can be edited in place (a `Group`'s stream cannot).
#[derive(Clone)]
enum Tree {
    Leaf(TokenTree),
    Group(Delimiter, Vec<Tree>),
}

fn trees(tokens: TokenStream) -> Vec<Tree> {
    tokens
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Group(group) => Tree::Group(group.delimiter(), trees(group.stream())),
            other => Tree::Leaf(other),
        })
        .collect()
}

fn stream(trees: &[Tree]) -> TokenStream {
    trees
        .iter()
        .map(|tree| match tree {
            Tree::Leaf(leaf) => leaf.clone(),
            Tree::Group(delimiter, inner) => {
                TokenTree::Group(Group::new(*delimiter, stream(inner)))
            }
        })
        .collect()
}

/// How many trees, at any depth, `pick` picks.
fn count(trees: &[Tree], pick: fn(&Tree) -> bool) -> usize {
    trees
        .iter()
        .map(|tree| {
            let inner = match tree {
                Tree::Leaf(_) => 0,
                Tree::Group(_, inner) => count(inner, pick),
            };
            usize::from(pick(tree)) + inner
        })
        .sum()
}

/// The path (indices from the top) to the `target`th tree, in preorder, of those
/// `pick` picks.
fn path_to(
    trees: &[Tree],
    pick: fn(&Tree) -> bool,
    target: &mut usize,
    path: &mut Vec<usize>,
) -> bool {
    for (i, tree) in trees.iter().enumerate() {
        path.push(i);
        if pick(tree) {
            if *target == 0 {
                return true;
            }
            *target -= 1;
        }
        if let Tree::Group(_, inner) = tree {
            if path_to(inner, pick, target, path) {
                return true;
            }
        }
        path.pop();
    }
    false
}

/// The list that the last index of `path` indexes.
fn level<'a>(trees: &'a mut Vec<Tree>, path: &[usize]) -> &'a mut Vec<Tree> {
    match path.split_first() {
        Some((&i, rest)) if !rest.is_empty() => match &mut trees[i] {
            Tree::Group(_, inner) => level(inner, rest),
            Tree::Leaf(_) => unreachable!("a path goes through groups"),
        },
        _ => trees,
    }
}

#[derive(Clone, Debug)]
enum Mutation {
    Delete,
    Duplicate,
    /// With the sibling at this index (modulo their number).
    Swap(usize),
    /// Replaces the tree with these tokens: an ident, a type, or any stream.
    Replace(TokenStream),
    /// Puts the group's contents in its place.
    Ungroup,
    /// Moves the first attribute of the same list at or after this index here.
    MoveAttribute(usize),
    Insert(TokenStream),
}

impl Mutation {
    /// The trees it applies to: an ident or a type replaces an ident (so that the
    /// result still parses often enough to reach the later passes); the rest, any.
    fn picks(&self) -> fn(&Tree) -> bool {
        match self {
            Mutation::Replace(new) if new.clone().into_iter().count() > 1 => is_ident,
            Mutation::Replace(new)
                if matches!(new.clone().into_iter().next(), Some(TokenTree::Ident(_))) =>
            {
                is_ident
            }
            _ => |_| true,
        }
    }
}

fn is_ident(tree: &Tree) -> bool {
    matches!(tree, Tree::Leaf(TokenTree::Ident(_)))
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => Just(Mutation::Delete),
        1 => Just(Mutation::Duplicate),
        1 => any::<usize>().prop_map(Mutation::Swap),
        4 => select(IDENTS).prop_map(|name| Mutation::Replace(ident(name))),
        4 => select(TYPES).prop_map(|ty| Mutation::Replace(parse(ty))),
        1 => leaf().prop_map(Mutation::Replace),
        1 => Just(Mutation::Ungroup),
        3 => any::<usize>().prop_map(Mutation::MoveAttribute),
        1 => select(SNIPPETS).prop_map(|s| Mutation::Insert(parse(s))),
    ]
}

fn is_attribute(trees: &[Tree], i: usize) -> bool {
    matches!(&trees[i], Tree::Leaf(TokenTree::Punct(p)) if p.as_char() == '#')
        && matches!(trees.get(i + 1), Some(Tree::Group(Delimiter::Bracket, _)))
}

fn mutate(tokens: &mut Vec<Tree>, at: usize, mutation: &Mutation) {
    let pick = mutation.picks();
    let total = count(tokens, pick);
    if total == 0 {
        if let Mutation::Replace(new) | Mutation::Insert(new) = mutation {
            tokens.extend(trees(new.clone()));
        }
        return;
    }
    let mut path = Vec::new();
    assert!(path_to(tokens, pick, &mut (at % total), &mut path));
    let i = *path.last().expect("a path is not empty");
    let list = level(tokens, &path);
    match mutation {
        Mutation::Delete => {
            list.remove(i);
        }
        Mutation::Duplicate => {
            let tree = list[i].clone();
            list.insert(i, tree);
        }
        Mutation::Swap(other) => {
            let other = other % list.len();
            list.swap(i, other);
        }
        Mutation::Replace(new) => {
            list.splice(i..=i, trees(new.clone()));
        }
        Mutation::Ungroup => {
            if let Tree::Group(_, inner) = list[i].clone() {
                list.splice(i..=i, inner);
            }
        }
        Mutation::MoveAttribute(from) => {
            let from = from % list.len();
            if let Some(attr) = (from..list.len()).find(|&a| is_attribute(list, a)) {
                let moved: Vec<Tree> = list.drain(attr..attr + 2).collect();
                let to = i.min(list.len());
                list.splice(to..to, moved);
            }
        }
        Mutation::Insert(new) => {
            list.splice(i..i, trees(new.clone()));
        }
    }
}

/// Runs the macro; fails the case if it panicked or returned something that is not
/// a list of items.
fn expands(args: &TokenStream, item: &TokenStream) -> Result<TokenStream, TestCaseError> {
    let run = || crate::gen_server_tokens(args.clone(), item.clone());
    let output = catch_unwind(AssertUnwindSafe(run)).map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("a panic");
        TestCaseError::fail(format!(
            "#[gen_server({args})] panicked ({message}) on:\n{item}"
        ))
    })?;
    match syn::parse2::<syn::File>(output.clone()) {
        Ok(_) => Ok(output),
        Err(error) => Err(TestCaseError::fail(format!(
            "#[gen_server({args})] gave tokens that are not items ({error}) on:\n{item}\noutput:\n{output}"
        ))),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_tokens_give_code_or_an_error(
        args in tokens(),
        item in tokens(),
        server in filled_template(),
    ) {
        expands(&args, &item)?;
        expands(&args, &parse(SERVERS[0]))?;
        expands(&TokenStream::new(), &server)?;
    }

    #[test]
    fn mutated_servers_give_code_or_an_error(
        server in select(SERVERS),
        args in select(ARGS),
        mutations in prop::collection::vec((any::<usize>(), mutation()), 1..3),
    ) {
        let mut server = trees(parse(server));
        for (at, mutation) in &mutations {
            mutate(&mut server, *at, mutation);
        }
        expands(&parse(args), &stream(&server))?;
    }
}

#[test]
fn the_servers_to_mutate_expand_without_errors() {
    for server in SERVERS {
        let output = expands(&TokenStream::new(), &parse(server)).unwrap();
        assert!(
            !output.to_string().contains("compile_error"),
            "{server} gave {output}"
        );
    }
}
