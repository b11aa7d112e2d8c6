//! `FallbackGraph`.

use tower_failover::fallback::{DEFAULT_MAX_DEPTH, FallbackGraph};

use super::{assert_mentions, json, json_error, same_in_all, toml, toml_error, yaml, yaml_error};

fn chain<'a>(graph: &'a FallbackGraph, model: &str) -> Vec<&'a str> {
    graph.chain(model).unwrap().collect()
}

#[test]
fn a_table_of_ordered_lists() {
    let graph: FallbackGraph = same_in_all(
        r#"
        "claude-haiku" = []
        "claude-sonnet" = ["claude-haiku"]
        "gpt-4o" = ["claude-sonnet", "gpt-4o-mini"]
        "gpt-4o-mini" = []
        "#,
        r#"{"claude-haiku": [], "claude-sonnet": ["claude-haiku"], "gpt-4o": ["claude-sonnet", "gpt-4o-mini"], "gpt-4o-mini": []}"#,
        "
        claude-haiku: []
        claude-sonnet: [claude-haiku]
        gpt-4o: [claude-sonnet, gpt-4o-mini]
        gpt-4o-mini: []
        ",
    );
    assert_eq!(
        chain(&graph, "gpt-4o"),
        ["claude-sonnet", "claude-haiku", "gpt-4o-mini"]
    );
    assert_eq!(chain(&graph, "claude-sonnet"), ["claude-haiku"]);
    assert!(chain(&graph, "gpt-4o-mini").is_empty());
    assert_eq!(graph.max_depth(), DEFAULT_MAX_DEPTH);
    let expected = FallbackGraph::builder()
        .model("claude-haiku")
        .route("claude-sonnet", ["claude-haiku"])
        .route("gpt-4o", ["claude-sonnet", "gpt-4o-mini"])
        .model("gpt-4o-mini")
        .build()
        .unwrap();
    assert_eq!(format!("{graph:?}"), format!("{expected:?}"));
}

#[test]
fn json_and_yaml_keep_declaration_order() {
    let graph: FallbackGraph =
        json(r#"{"gpt-4o": ["gpt-4o-mini"], "gpt-4o-mini": [], "a-model": []}"#);
    assert_eq!(
        graph.models().collect::<Vec<_>>(),
        ["gpt-4o", "gpt-4o-mini", "a-model"]
    );
    let graph: FallbackGraph = yaml("gpt-4o: [gpt-4o-mini]\ngpt-4o-mini: []\na-model: []");
    assert_eq!(
        graph.models().collect::<Vec<_>>(),
        ["gpt-4o", "gpt-4o-mini", "a-model"]
    );
}

#[test]
fn an_empty_table_is_an_empty_graph() {
    let graph: FallbackGraph = same_in_all("", "{}", "{}");
    assert_eq!(graph.models().count(), 0);
    assert_eq!(
        format!("{graph:?}"),
        format!("{:?}", FallbackGraph::builder().build().unwrap())
    );
}

#[test]
fn the_long_form() {
    let graph: FallbackGraph = same_in_all(
        r#"
        max_depth = 2
        [routes]
        "gpt-4o" = ["gpt-4o-mini"]
        "gpt-4o-mini" = []
        "#,
        r#"{"max_depth": 2, "routes": {"gpt-4o": ["gpt-4o-mini"], "gpt-4o-mini": []}}"#,
        "max_depth: 2\nroutes:\n  gpt-4o: [gpt-4o-mini]\n  gpt-4o-mini: []",
    );
    assert_eq!(graph.max_depth(), 2);
    assert_eq!(chain(&graph, "gpt-4o"), ["gpt-4o-mini"]);
    // Inside `routes`, the reserved names are models like any other.
    let graph: FallbackGraph = json(r#"{"routes": {"routes": ["max_depth"], "max_depth": []}}"#);
    assert_eq!(chain(&graph, "routes"), ["max_depth"]);
}

#[test]
fn graph_errors_are_the_builder_s() {
    let message = toml_error::<FallbackGraph>(
        r#"
"gpt-4o" = ["claude-sonnet"]
"claude-sonnet" = ["gpt-4o"]
"#,
    );
    // Declaration order (the tests enable toml's `preserve_order`): the
    // walk starts at gpt-4o.
    assert_mentions(
        &message,
        &[
            "invalid fallback setting route: the fallback lists form a cycle (gpt-4o → claude-sonnet → gpt-4o)",
        ],
    );
    let message = json_error::<FallbackGraph>(
        r#"{"gpt-4o": ["claude-sonnet"], "claude-sonnet": ["gpt-4o"]}"#,
    );
    assert_mentions(
        &message,
        &["the fallback lists form a cycle (gpt-4o → claude-sonnet → gpt-4o)"],
    );
    let message = toml_error::<FallbackGraph>(r#""gpt-4o" = ["gpt-4o"]"#);
    assert_mentions(
        &message,
        &["the fallback lists form a cycle (gpt-4o → gpt-4o)"],
    );
    let message = toml_error::<FallbackGraph>(r#""gpt-4o" = ["clude"]"#);
    assert_mentions(
        &message,
        &[
            "invalid fallback setting route: a fallback list names an unknown model (gpt-4o → clude)",
        ],
    );
    let message = toml_error::<FallbackGraph>(
        r#""gpt-4o" = ["a", "a"]
a = []"#,
    );
    assert_mentions(&message, &["a fallback list names a model twice"]);
    let message = json_error::<FallbackGraph>(r#"{"gpt-4o": [], "gpt-4o": []}"#);
    assert_mentions(&message, &["a model is declared twice (gpt-4o)"]);
    let message = toml_error::<FallbackGraph>(
        r#"
max_depth = 2
a = ["b"]
b = ["c"]
c = []
"#,
    );
    assert_mentions(
        &message,
        &["a fallback chain is longer than max_depth (a → b → c)"],
    );
    let message = toml_error::<FallbackGraph>("max_depth = 0");
    assert_mentions(
        &message,
        &["invalid fallback setting max_depth: must be between 1 and 16"],
    );
    let message = yaml_error::<FallbackGraph>("a: [b]\nb: [a]");
    assert_mentions(&message, &["the fallback lists form a cycle"]);
}

#[test]
fn wrong_types_name_the_model() {
    let message = toml_error::<FallbackGraph>(r#""gpt-4o" = "gpt-4o-mini""#);
    assert_mentions(
        &message,
        &[
            "invalid type: string \"gpt-4o-mini\", expected a sequence",
            "\"gpt-4o\"",
        ],
    );
    let message = toml_error::<FallbackGraph>(r#""gpt-4o" = [1]"#);
    assert_mentions(&message, &["invalid type: integer `1`"]);
    let message = toml_error::<FallbackGraph>(r#"max_depth = "deep""#);
    assert_mentions(&message, &["invalid type: string \"deep\"", "max_depth"]);
    let message = json_error::<FallbackGraph>(r#"["gpt-4o"]"#);
    assert_mentions(
        &message,
        &["expected a table of model names to lists of fallback model names"],
    );
}

#[test]
fn a_deserialized_graph_builds_a_tier_list() {
    let graph: FallbackGraph = toml(
        r#"
"gpt-4o" = ["gpt-4o-mini"]
"gpt-4o-mini" = []
"#,
    );
    assert!(graph.contains("gpt-4o"));
    assert!(!graph.contains("claude"));
}
