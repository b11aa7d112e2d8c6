//! The declarative fallback graph: transitive chains, every build error, and
//! a proptest against an independent model of reachability and cycles.

use std::collections::BTreeSet;

use proptest::prelude::*;
use tower_failover::InvalidConfig;
use tower_failover::fallback::{DEFAULT_MAX_DEPTH, FallbackGraph, FallbackGraphBuilder, MAX_TIERS};

fn chain(graph: &FallbackGraph, model: &str) -> Vec<String> {
    graph
        .chain(model)
        .unwrap_or_else(|| panic!("{model} is declared"))
        .map(str::to_owned)
        .collect()
}

fn route_error(builder: FallbackGraphBuilder) -> (&'static str, Option<String>) {
    let error: InvalidConfig = builder.build().expect_err("the graph is invalid");
    assert_eq!(error.layer(), "fallback");
    assert_eq!(error.field(), "route");
    (error.reason(), error.detail().map(str::to_owned))
}

/// The gateway example of the design.
fn gateway() -> FallbackGraphBuilder {
    FallbackGraph::builder()
        .route("gpt-4o", ["claude-sonnet", "gpt-4o-mini"])
        .route("claude-sonnet", ["claude-haiku"])
        .model("claude-haiku")
        .model("gpt-4o-mini")
}

/// `m0 → m1 → … → m{fallbacks}`: one model with a chain of `fallbacks`.
fn line(fallbacks: usize) -> FallbackGraphBuilder {
    let mut builder = FallbackGraph::builder();
    for n in 0..fallbacks {
        builder = builder.route(format!("m{n}"), [format!("m{}", n + 1)]);
    }
    builder.model(format!("m{fallbacks}"))
}

#[test]
fn chain_is_transitive_depth_first() {
    let graph = gateway().build().unwrap();
    assert_eq!(
        chain(&graph, "gpt-4o"),
        ["claude-sonnet", "claude-haiku", "gpt-4o-mini"]
    );
    assert_eq!(chain(&graph, "claude-sonnet"), ["claude-haiku"]);
    assert_eq!(graph.chain("gpt-4o").unwrap().len(), 3);
}

#[test]
fn chain_keeps_each_model_once_where_it_first_appears() {
    // A diamond: `c` is reached through `b` first, then directly.
    let graph = FallbackGraph::builder()
        .route("a", ["b", "c"])
        .route("b", ["c"])
        .model("c")
        .build()
        .unwrap();
    assert_eq!(chain(&graph, "a"), ["b", "c"]);
    assert_eq!(chain(&graph, "b"), ["c"]);

    // Listed directly first, then reached again through a later fallback.
    let graph = FallbackGraph::builder()
        .route("a", ["c", "b"])
        .route("b", ["c", "d"])
        .model("c")
        .model("d")
        .build()
        .unwrap();
    assert_eq!(chain(&graph, "a"), ["c", "b", "d"]);
}

#[test]
fn lists_may_name_models_declared_later() {
    let graph = FallbackGraph::builder()
        .model("gpt-4o-mini")
        .route("claude-sonnet", ["claude-haiku"])
        .route("gpt-4o", ["claude-sonnet", "gpt-4o-mini"])
        .route("claude-haiku", Vec::<String>::new())
        .build()
        .unwrap();
    assert_eq!(
        chain(&graph, "gpt-4o"),
        ["claude-sonnet", "claude-haiku", "gpt-4o-mini"]
    );
}

#[test]
fn leaf_has_an_empty_chain_and_unknown_model_none() {
    let graph = gateway().build().unwrap();
    let leaf = graph.chain("claude-haiku").unwrap();
    assert_eq!(leaf.len(), 0);
    assert_eq!(leaf.clone().next(), None);
    assert!(graph.chain("gpt-5").is_none());
    assert!(graph.chain("").is_none());
    assert!(graph.chain("GPT-4o").is_none());
}

#[test]
fn models_in_declaration_order_and_contains() {
    let graph = gateway().build().unwrap();
    assert_eq!(
        graph.models().collect::<Vec<_>>(),
        ["gpt-4o", "claude-sonnet", "claude-haiku", "gpt-4o-mini"]
    );
    assert!(graph.contains("gpt-4o-mini"));
    assert!(graph.contains("claude-haiku"));
    assert!(!graph.contains("gpt-5"));

    let empty = FallbackGraph::builder().build().unwrap();
    assert_eq!(empty.models().count(), 0);
    assert!(!empty.contains("gpt-4o"));
}

#[test]
fn chain_iterator_is_exact_double_ended_and_clone() {
    let graph = gateway().build().unwrap();
    let mut chain = graph.chain("gpt-4o").unwrap();
    let copy = chain.clone();
    assert_eq!(chain.next_back(), Some("gpt-4o-mini"));
    assert_eq!(chain.len(), 2);
    assert_eq!(chain.next(), Some("claude-sonnet"));
    assert_eq!(chain.len(), 1);
    assert_eq!(format!("{chain:?}"), r#"GraphChain(["claude-haiku"])"#);
    assert_eq!(chain.next(), Some("claude-haiku"));
    assert_eq!(chain.next(), None);
    assert_eq!(chain.next_back(), None);
    // The clone was not advanced.
    assert_eq!(copy.len(), 3);
    assert_eq!(copy.clone().nth(1), Some("claude-haiku"));
    assert_eq!(copy.last(), Some("gpt-4o-mini"));
}

#[test]
fn graph_clones_and_debugs_in_declaration_order() {
    let graph = gateway().build().unwrap();
    let clone = graph.clone();
    assert_eq!(chain(&clone, "gpt-4o"), chain(&graph, "gpt-4o"));
    assert_eq!(
        format!("{graph:?}"),
        "FallbackGraph { chains: {\"gpt-4o\": [\"claude-sonnet\", \"claude-haiku\", \
         \"gpt-4o-mini\"], \"claude-sonnet\": [\"claude-haiku\"], \"claude-haiku\": [], \
         \"gpt-4o-mini\": []}, max_depth: 4 }"
    );
}

#[test]
fn default_builder_is_the_builder() {
    assert_eq!(DEFAULT_MAX_DEPTH, 4);
    let graph = FallbackGraphBuilder::default().build().unwrap();
    assert_eq!(graph.max_depth(), DEFAULT_MAX_DEPTH);
    assert_eq!(
        FallbackGraph::builder().build().unwrap().max_depth(),
        DEFAULT_MAX_DEPTH
    );
    // The default depth admits the design's three tiers and one spare...
    assert!(line(3).build().is_ok());
    // ...and no more.
    let (reason, detail) = route_error(line(4));
    assert_eq!(reason, "a fallback chain is longer than max_depth");
    assert_eq!(detail.as_deref(), Some("m0 → m1 → m2 → m3 → m4"));
}

#[test]
fn max_depth_bounds() {
    for depth in [0, MAX_TIERS + 1, usize::MAX] {
        let error = FallbackGraph::builder()
            .model("a")
            .max_depth(depth)
            .build()
            .expect_err("out of range");
        assert_eq!(error.layer(), "fallback");
        assert_eq!(error.field(), "max_depth");
        assert_eq!(error.reason(), "must be between 1 and 16");
        assert_eq!(error.detail(), None);
        assert_eq!(
            error.to_string(),
            "invalid fallback setting max_depth: must be between 1 and 16"
        );
    }
    assert_eq!(MAX_TIERS, 16);
    for depth in [1, MAX_TIERS] {
        let graph = FallbackGraph::builder()
            .model("a")
            .max_depth(depth)
            .build()
            .unwrap();
        assert_eq!(graph.max_depth(), depth);
    }
}

#[test]
fn max_depth_is_checked_before_the_routes() {
    let error = FallbackGraph::builder()
        .route("a", ["unknown"])
        .max_depth(0)
        .build()
        .unwrap_err();
    assert_eq!(error.field(), "max_depth");
}

#[test]
fn chain_longer_than_max_depth() {
    // Three tiers: the model and two fallbacks.
    let graph = line(2).max_depth(3).build().unwrap();
    assert_eq!(chain(&graph, "m0"), ["m1", "m2"]);

    let (reason, detail) = route_error(line(3).max_depth(3));
    assert_eq!(reason, "a fallback chain is longer than max_depth");
    assert_eq!(detail.as_deref(), Some("m0 → m1 → m2 → m3"));

    // Transitive and breadth both count: a → [b, c], b → [d] is four tiers.
    let wide = FallbackGraph::builder()
        .route("a", ["b", "c"])
        .route("b", ["d"])
        .model("c")
        .model("d");
    let (reason, detail) = route_error(wide.clone().max_depth(3));
    assert_eq!(reason, "a fallback chain is longer than max_depth");
    assert_eq!(detail.as_deref(), Some("a → b → d → c"));
    assert!(wide.max_depth(4).build().is_ok());

    // Depth 1: no model may have a fallback.
    assert!(
        FallbackGraph::builder()
            .model("a")
            .max_depth(1)
            .build()
            .is_ok()
    );
    let (_, detail) = route_error(line(1).max_depth(1));
    assert_eq!(detail.as_deref(), Some("m0 → m1"));

    // The cap itself: 16 tiers accepted, 17 not.
    assert!(line(MAX_TIERS - 1).max_depth(MAX_TIERS).build().is_ok());
    let (reason, _) = route_error(line(MAX_TIERS).max_depth(MAX_TIERS));
    assert_eq!(reason, "a fallback chain is longer than max_depth");
}

#[test]
fn too_long_reports_the_first_model_in_declaration_order() {
    // Both `x` and `m0` have chains too long; `x` is declared first.
    let builder = FallbackGraph::builder()
        .route("x", ["m1", "m0"])
        .route("m0", ["m1"])
        .route("m1", ["m2"])
        .model("m2")
        .max_depth(3);
    let (_, detail) = route_error(builder);
    assert_eq!(detail.as_deref(), Some("x → m1 → m2 → m0"));
}

#[test]
fn two_cycle() {
    let (reason, detail) =
        route_error(FallbackGraph::builder().route("a", ["b"]).route("b", ["a"]));
    assert_eq!(reason, "the fallback lists form a cycle");
    assert_eq!(detail.as_deref(), Some("a → b → a"));
}

#[test]
fn self_loop() {
    let (reason, detail) = route_error(FallbackGraph::builder().route("a", ["a"]));
    assert_eq!(reason, "the fallback lists form a cycle");
    assert_eq!(detail.as_deref(), Some("a → a"));
}

#[test]
fn three_cycle_behind_a_prefix() {
    // The walk starts at `entry`, which is not on the cycle.
    let (reason, detail) = route_error(
        FallbackGraph::builder()
            .route("entry", ["leaf", "a"])
            .model("leaf")
            .route("a", ["b"])
            .route("b", ["leaf", "c"])
            .route("c", ["a"]),
    );
    assert_eq!(reason, "the fallback lists form a cycle");
    assert_eq!(detail.as_deref(), Some("a → b → c → a"));
}

#[test]
fn cycle_is_reported_even_within_max_depth() {
    // A cycle is an error of its own, not just a chain that is too long.
    let error = FallbackGraph::builder()
        .route("a", ["b"])
        .route("b", ["a"])
        .max_depth(16)
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid fallback setting route: the fallback lists form a cycle (a → b → a)"
    );
}

#[test]
fn cycles_are_checked_after_names() {
    // An unknown name declared later wins over an earlier cycle.
    let (reason, detail) = route_error(
        FallbackGraph::builder()
            .route("a", ["a"])
            .route("b", ["clude"]),
    );
    assert_eq!(reason, "a fallback list names an unknown model");
    assert_eq!(detail.as_deref(), Some("b → clude"));
}

#[test]
fn unknown_model() {
    let (reason, detail) = route_error(
        FallbackGraph::builder()
            .route("gpt-4o", ["claude", "clude"])
            .model("claude"),
    );
    assert_eq!(reason, "a fallback list names an unknown model");
    assert_eq!(detail.as_deref(), Some("gpt-4o → clude"));

    // A model that only appears in a list is not declared.
    let (reason, detail) = route_error(FallbackGraph::builder().route("m0", ["m1"]));
    assert_eq!(reason, "a fallback list names an unknown model");
    assert_eq!(detail.as_deref(), Some("m0 → m1"));
}

#[test]
fn names_are_case_sensitive() {
    let (reason, detail) = route_error(
        FallbackGraph::builder()
            .route("gpt-4o", ["Claude"])
            .model("claude"),
    );
    assert_eq!(reason, "a fallback list names an unknown model");
    assert_eq!(detail.as_deref(), Some("gpt-4o → Claude"));
}

#[test]
fn model_listed_twice() {
    let (reason, detail) = route_error(
        FallbackGraph::builder()
            .route("gpt-4o", ["claude", "mini", "claude"])
            .model("claude")
            .model("mini"),
    );
    assert_eq!(reason, "a fallback list names a model twice");
    assert_eq!(detail.as_deref(), Some("gpt-4o → claude"));

    // Twice across lists is fine: that is the diamond.
    assert!(
        FallbackGraph::builder()
            .route("a", ["c"])
            .route("b", ["c"])
            .model("c")
            .build()
            .is_ok()
    );
}

#[test]
fn model_declared_twice() {
    for builder in [
        FallbackGraph::builder().model("a").model("b").model("a"),
        FallbackGraph::builder()
            .route("a", ["b"])
            .model("b")
            .model("a"),
        FallbackGraph::builder()
            .model("a")
            .route("a", ["b"])
            .model("b"),
        FallbackGraph::builder()
            .route("a", ["b"])
            .model("b")
            .route("a", ["b"]),
    ] {
        let (reason, detail) = route_error(builder);
        assert_eq!(reason, "a model is declared twice");
        assert_eq!(detail.as_deref(), Some("a"));
    }
}

#[test]
fn empty_names() {
    let (reason, detail) = route_error(FallbackGraph::builder().model(""));
    assert_eq!(reason, "a model name is empty");
    assert_eq!(detail, None);

    let (reason, detail) = route_error(FallbackGraph::builder().route("", ["a"]).model("a"));
    assert_eq!(reason, "a model name is empty");
    assert_eq!(detail, None);

    let (reason, detail) = route_error(FallbackGraph::builder().route("gpt-4o", [""]));
    assert_eq!(reason, "a model name is empty");
    assert_eq!(detail.as_deref(), Some("gpt-4o → \"\""));
}

#[test]
fn first_problem_in_declaration_order() {
    // Three problems; the first declaration at fault is reported.
    let builder = FallbackGraph::builder()
        .route("a", ["b"])
        .route("b", ["zz"])
        .model("a")
        .route("c", ["b", "b"]);
    let (reason, detail) = route_error(builder.clone());
    assert_eq!(reason, "a fallback list names an unknown model");
    assert_eq!(detail.as_deref(), Some("b → zz"));
    // Reported the same way every time.
    for _ in 0..10 {
        assert_eq!(route_error(builder.clone()).1.as_deref(), Some("b → zz"));
    }

    // The first cycle in declaration order.
    let (_, detail) = route_error(
        FallbackGraph::builder()
            .route("y", ["x"])
            .route("x", ["y"])
            .route("a", ["a"]),
    );
    assert_eq!(detail.as_deref(), Some("y → x → y"));
}

// An independent model of the graph: adjacency lists over `m0..m{n}`.

fn name(node: usize) -> String {
    format!("m{node}")
}

/// The nodes reachable from `node` by one edge or more.
fn reachable(lists: &[Vec<usize>], node: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut stack = lists[node].clone();
    while let Some(next) = stack.pop() {
        if seen.insert(next) {
            stack.extend(&lists[next]);
        }
    }
    seen
}

fn has_cycle(lists: &[Vec<usize>]) -> bool {
    (0..lists.len()).any(|node| reachable(lists, node).contains(&node))
}

/// Pre-order depth-first expansion, recursive (the graph is acyclic).
fn reference_chain(lists: &[Vec<usize>], node: usize) -> Vec<usize> {
    fn visit(lists: &[Vec<usize>], node: usize, chain: &mut Vec<usize>) {
        for &next in &lists[node] {
            if !chain.contains(&next) {
                chain.push(next);
                visit(lists, next, chain);
            }
        }
    }
    let mut chain = Vec::new();
    visit(lists, node, &mut chain);
    chain
}

#[derive(Clone, Debug)]
struct Spec {
    lists: Vec<Vec<usize>>,
    // Declare leaves with `model` (else `route` with an empty list).
    leaves_as_model: Vec<bool>,
    // Declaration order: a permutation of the nodes.
    order: Vec<usize>,
}

impl Spec {
    fn builder(&self) -> FallbackGraphBuilder {
        let mut builder = FallbackGraph::builder();
        for &node in &self.order {
            let list = &self.lists[node];
            builder = if list.is_empty() && self.leaves_as_model[node] {
                builder.model(name(node))
            } else {
                builder.route(name(node), list.iter().map(|&next| name(next)))
            };
        }
        builder
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    (1..=8usize).prop_flat_map(|n| {
        let list = proptest::collection::vec(0..n, 0..=n).prop_map(|mut list| {
            // No model twice in one list (first occurrence kept).
            let mut seen = BTreeSet::new();
            list.retain(|node| seen.insert(*node));
            list
        });
        (
            proptest::collection::vec(list, n),
            proptest::collection::vec(any::<bool>(), n),
            Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
        )
            .prop_map(|(lists, leaves_as_model, order)| Spec {
                lists,
                leaves_as_model,
                order,
            })
    })
}

fn node(name: &str) -> usize {
    name.strip_prefix('m').unwrap().parse().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn graph_matches_the_model(spec in spec(), max_depth in 1..=MAX_TIERS) {
        let result = spec.builder().max_depth(max_depth).build();
        let lists = &spec.lists;

        if has_cycle(lists) {
            let error = result.expect_err("a cycle is rejected");
            prop_assert_eq!(error.field(), "route");
            prop_assert_eq!(error.reason(), "the fallback lists form a cycle");
            // The detail is a real cycle: closed, along edges, simple.
            let cycle: Vec<usize> = error.detail().unwrap().split(" → ").map(node).collect();
            prop_assert!(cycle.len() >= 2);
            prop_assert_eq!(cycle.first(), cycle.last());
            for edge in cycle.windows(2) {
                prop_assert!(lists[edge[0]].contains(&edge[1]), "{:?} is no edge", edge);
            }
            let inner: BTreeSet<_> = cycle[1..].iter().collect();
            prop_assert_eq!(inner.len(), cycle.len() - 1);
            return Ok(());
        }

        // Acyclic: too long iff some model reaches max_depth others or more.
        let too_long = spec
            .order
            .iter()
            .copied()
            .find(|&node| reachable(lists, node).len() + 1 > max_depth);
        if let Some(first) = too_long {
            let error = result.expect_err("a chain is too long");
            prop_assert_eq!(error.field(), "route");
            prop_assert_eq!(error.reason(), "a fallback chain is longer than max_depth");
            let expected: Vec<String> = std::iter::once(first)
                .chain(reference_chain(lists, first))
                .map(name)
                .collect();
            let expected = expected.join(" → ");
            prop_assert_eq!(error.detail(), Some(expected.as_str()));
            return Ok(());
        }

        let graph = result.expect("a valid graph builds");
        prop_assert_eq!(graph.max_depth(), max_depth);
        let declared: Vec<String> = spec.order.iter().map(|&node| name(node)).collect();
        prop_assert_eq!(graph.models().collect::<Vec<_>>(), declared);
        prop_assert!(!graph.contains("m8"));
        prop_assert!(graph.chain("m8").is_none());
        for node in 0..lists.len() {
            prop_assert!(graph.contains(&name(node)));
            let chain = graph.chain(&name(node)).unwrap();
            prop_assert_eq!(chain.len(), chain.clone().count());
            let chain: Vec<usize> = chain.map(self::node).collect();
            let distinct: BTreeSet<usize> = chain.iter().copied().collect();
            prop_assert_eq!(distinct.len(), chain.len(), "repeats in {:?}", chain);
            prop_assert!(!distinct.contains(&node));
            prop_assert!(chain.len() < max_depth);
            prop_assert_eq!(&distinct, &reachable(lists, node));
            prop_assert_eq!(chain, reference_chain(lists, node));
        }
    }

    #[test]
    fn build_fails_iff_cycle(spec in spec()) {
        // At most 8 models: no chain reaches the cap, and the generated
        // lists name no model twice and no unknown one.
        let result = spec.builder().max_depth(MAX_TIERS).build();
        prop_assert_eq!(result.is_err(), has_cycle(&spec.lists));
        if let Err(error) = result {
            prop_assert_eq!(error.reason(), "the fallback lists form a cycle");
        }
    }
}
