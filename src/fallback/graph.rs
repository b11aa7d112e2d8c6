//! The declarative fallback graph: "model → ordered fallback list", expanded
//! transitively into one chain per model and checked once, when it is built.

use std::collections::HashMap;
use std::fmt;
use std::iter::FusedIterator;
use std::slice;
use std::sync::Arc;

use super::MAX_TIERS;
use crate::InvalidConfig;

/// The default of [`FallbackGraphBuilder::max_depth`]: a model and at most
/// three fallbacks (tier 1 quality → tier 2 other provider → tier 3 cheap
/// baseline, and one spare).
///
/// ```
/// use tower_failover::fallback::{DEFAULT_MAX_DEPTH, FallbackGraph};
///
/// let graph = FallbackGraph::builder().model("gpt-4o").build()?;
/// assert_eq!(graph.max_depth(), DEFAULT_MAX_DEPTH);
/// assert_eq!(DEFAULT_MAX_DEPTH, 4);
/// # Ok::<(), tower_failover::InvalidConfig>(())
/// ```
pub const DEFAULT_MAX_DEPTH: usize = 4;

// The `max_depth` error's reason spells the bound out.
const _: () = assert!(MAX_TIERS == 16);
const _: () = assert!(DEFAULT_MAX_DEPTH >= 1 && DEFAULT_MAX_DEPTH <= MAX_TIERS);

const LAYER: &str = "fallback";
const ARROW: &str = " → ";

const EMPTY_NAME: &str = "a model name is empty";
const DECLARED_TWICE: &str = "a model is declared twice";
const LISTED_TWICE: &str = "a fallback list names a model twice";
const UNKNOWN: &str = "a fallback list names an unknown model";
const CYCLE: &str = "the fallback lists form a cycle";
const TOO_DEEP: &str = "a fallback chain is longer than max_depth";

/// Which model falls back to which, the way gateways configure it: each
/// model has an ordered list of fallbacks, and the lists are transitive.
///
/// ```text
/// gpt-4o        = ["claude-sonnet", "gpt-4o-mini"]
/// claude-sonnet = ["claude-haiku"]
/// ```
///
/// When a fallback fails in turn, *its* fallbacks apply too, so the
/// [chain](Self::chain) of a model is its list expanded depth-first, each
/// fallback followed at once by its own chain, and every model kept only
/// where it first appears. Above, the chain of `gpt-4o` is `claude-sonnet`,
/// `claude-haiku`, `gpt-4o-mini`. A chain never contains its own model.
///
/// The graph is checked when it is [built](FallbackGraphBuilder::build):
/// every name in a list must be declared, no model may be declared twice or
/// be listed twice in one list, the lists may not form a cycle, and no chain
/// may have more than [`max_depth`](FallbackGraphBuilder::max_depth) tiers,
/// the model itself included. Every chain is computed then, so reading one
/// is a hash lookup that allocates nothing.
///
/// Cheap to clone: the names are shared.
///
/// # Examples
///
/// ```
/// use tower_failover::fallback::FallbackGraph;
///
/// let graph = FallbackGraph::builder()
///     .route("gpt-4o", ["claude-sonnet", "gpt-4o-mini"])
///     .route("claude-sonnet", ["claude-haiku"])
///     .model("claude-haiku")
///     .model("gpt-4o-mini")
///     .build()?;
///
/// let chain: Vec<&str> = graph.chain("gpt-4o").unwrap().collect();
/// assert_eq!(chain, ["claude-sonnet", "claude-haiku", "gpt-4o-mini"]);
/// assert_eq!(graph.chain("claude-haiku").unwrap().len(), 0);
/// assert!(graph.chain("gemini-pro").is_none());
/// # Ok::<(), tower_failover::InvalidConfig>(())
/// ```
///
/// A cycle is rejected, and the error names it:
///
/// ```
/// use tower_failover::fallback::FallbackGraph;
///
/// let error = FallbackGraph::builder()
///     .route("gpt-4o", ["claude-sonnet"])
///     .route("claude-sonnet", ["gpt-4o-mini"])
///     .route("gpt-4o-mini", ["gpt-4o"])
///     .build()
///     .unwrap_err();
/// assert_eq!(error.field(), "route");
/// assert_eq!(error.reason(), "the fallback lists form a cycle");
/// assert_eq!(error.detail(), Some("gpt-4o → claude-sonnet → gpt-4o-mini → gpt-4o"));
/// ```
#[derive(Clone)]
pub struct FallbackGraph {
    // Declaration order.
    entries: Box<[Entry]>,
    // Model name → its position in `entries`.
    index: HashMap<Arc<str>, usize>,
    max_depth: usize,
}

#[derive(Clone)]
struct Entry {
    model: Arc<str>,
    chain: Box<[Arc<str>]>,
}

impl FallbackGraph {
    /// A builder with no models and a [`max_depth`](FallbackGraphBuilder::max_depth)
    /// of [`DEFAULT_MAX_DEPTH`]; the same as [`FallbackGraphBuilder::default`].
    ///
    /// ```
    /// use tower_failover::fallback::FallbackGraph;
    ///
    /// let graph = FallbackGraph::builder().build()?;
    /// assert_eq!(graph.models().count(), 0);
    /// # Ok::<(), tower_failover::InvalidConfig>(())
    /// ```
    pub fn builder() -> FallbackGraphBuilder {
        FallbackGraphBuilder::default()
    }

    /// The fallbacks of `model`, in the order they are tried, the model
    /// itself not included; `None` if the model was not declared.
    ///
    /// ```
    /// use tower_failover::fallback::FallbackGraph;
    ///
    /// // A diamond: `c` is reached twice but appears once.
    /// let graph = FallbackGraph::builder()
    ///     .route("a", ["b", "c"])
    ///     .route("b", ["c"])
    ///     .model("c")
    ///     .build()?;
    /// let chain = graph.chain("a").unwrap();
    /// assert_eq!(chain.len(), 2);
    /// assert_eq!(chain.collect::<Vec<_>>(), ["b", "c"]);
    /// assert!(graph.chain("d").is_none());
    /// # Ok::<(), tower_failover::InvalidConfig>(())
    /// ```
    pub fn chain(&self, model: &str) -> Option<GraphChain<'_>> {
        let &position = self.index.get(model)?;
        Some(GraphChain {
            inner: self.entries[position].chain.iter(),
        })
    }

    /// Every declared model, in declaration order.
    ///
    /// ```
    /// use tower_failover::fallback::FallbackGraph;
    ///
    /// let graph = FallbackGraph::builder()
    ///     .route("gpt-4o", ["gpt-4o-mini"])
    ///     .model("gpt-4o-mini")
    ///     .build()?;
    /// assert_eq!(graph.models().collect::<Vec<_>>(), ["gpt-4o", "gpt-4o-mini"]);
    /// # Ok::<(), tower_failover::InvalidConfig>(())
    /// ```
    pub fn models(&self) -> impl ExactSizeIterator<Item = &str> + Clone {
        self.entries.iter().map(|entry| &*entry.model)
    }

    /// Whether `model` was declared.
    ///
    /// ```
    /// use tower_failover::fallback::FallbackGraph;
    ///
    /// let graph = FallbackGraph::builder().model("gpt-4o-mini").build()?;
    /// assert!(graph.contains("gpt-4o-mini"));
    /// assert!(!graph.contains("gpt-4o"));
    /// # Ok::<(), tower_failover::InvalidConfig>(())
    /// ```
    pub fn contains(&self, model: &str) -> bool {
        self.index.contains_key(model)
    }

    /// The most tiers one chain may have, the model itself included, as set
    /// by [`FallbackGraphBuilder::max_depth`].
    ///
    /// ```
    /// use tower_failover::fallback::FallbackGraph;
    ///
    /// let graph = FallbackGraph::builder().max_depth(3).build()?;
    /// assert_eq!(graph.max_depth(), 3);
    /// # Ok::<(), tower_failover::InvalidConfig>(())
    /// ```
    pub fn max_depth(&self) -> usize {
        self.max_depth
    }
}

impl fmt::Debug for FallbackGraph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Chains<'a>(&'a [Entry]);

        impl fmt::Debug for Chains<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(self.0.iter().map(|entry| (&entry.model, &entry.chain)))
                    .finish()
            }
        }

        f.debug_struct("FallbackGraph")
            .field("chains", &Chains(&self.entries))
            .field("max_depth", &self.max_depth)
            .finish()
    }
}

/// The fallbacks of one model, in the order they are tried: see
/// [`FallbackGraph::chain`].
///
/// ```
/// use tower_failover::fallback::FallbackGraph;
///
/// let graph = FallbackGraph::builder()
///     .route("gpt-4o", ["claude-sonnet", "gpt-4o-mini"])
///     .model("claude-sonnet")
///     .model("gpt-4o-mini")
///     .build()?;
/// let mut chain = graph.chain("gpt-4o").unwrap();
/// assert_eq!(format!("{chain:?}"), r#"GraphChain(["claude-sonnet", "gpt-4o-mini"])"#);
/// assert_eq!(chain.len(), 2);
/// assert_eq!(chain.next(), Some("claude-sonnet"));
/// assert_eq!(chain.len(), 1);
/// assert_eq!(chain.next(), Some("gpt-4o-mini"));
/// assert_eq!(chain.next(), None);
/// # Ok::<(), tower_failover::InvalidConfig>(())
/// ```
#[derive(Clone)]
pub struct GraphChain<'a> {
    inner: slice::Iter<'a, Arc<str>>,
}

impl<'a> Iterator for GraphChain<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        self.inner.next().map(|model| &**model)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }

    fn nth(&mut self, n: usize) -> Option<&'a str> {
        self.inner.nth(n).map(|model| &**model)
    }

    fn count(self) -> usize {
        self.inner.len()
    }

    fn last(self) -> Option<&'a str> {
        self.inner.last().map(|model| &**model)
    }
}

impl DoubleEndedIterator for GraphChain<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.inner.next_back().map(|model| &**model)
    }
}

impl ExactSizeIterator for GraphChain<'_> {
    fn len(&self) -> usize {
        self.inner.len()
    }
}

impl FusedIterator for GraphChain<'_> {}

impl fmt::Debug for GraphChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("GraphChain")
            .field(&self.inner.as_slice())
            .finish()
    }
}

/// Builds a [`FallbackGraph`]; [`build`](Self::build) checks it.
///
/// Declare every model, either with its fallbacks ([`route`](Self::route))
/// or as a leaf ([`model`](Self::model)), in any order: a list may name a
/// model declared after it. The [`Default`] is the same as
/// [`FallbackGraph::builder`].
///
/// ```
/// use tower_failover::fallback::FallbackGraphBuilder;
///
/// // `claude-haiku` is named in a list but never declared.
/// let error = FallbackGraphBuilder::default()
///     .route("claude-sonnet", ["claude-haiku"])
///     .build()
///     .unwrap_err();
/// assert_eq!(error.reason(), "a fallback list names an unknown model");
/// assert_eq!(error.detail(), Some("claude-sonnet → claude-haiku"));
/// ```
#[derive(Clone, Debug)]
#[must_use = "call `build` to get a graph"]
pub struct FallbackGraphBuilder {
    // Declaration order; `model` declares an empty list.
    routes: Vec<(String, Vec<String>)>,
    max_depth: usize,
}

impl Default for FallbackGraphBuilder {
    fn default() -> Self {
        Self {
            routes: Vec::new(),
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

impl FallbackGraphBuilder {
    /// Declares `model` with its fallbacks, in the order they are tried.
    /// Each fallback must be declared too, here or with
    /// [`model`](Self::model), before or after this call.
    ///
    /// ```
    /// use tower_failover::fallback::FallbackGraph;
    ///
    /// let graph = FallbackGraph::builder()
    ///     .route("claude-sonnet", ["claude-haiku"])
    ///     .route("claude-haiku", Vec::<String>::new())
    ///     .build()?;
    /// assert_eq!(graph.chain("claude-sonnet").unwrap().collect::<Vec<_>>(), ["claude-haiku"]);
    /// # Ok::<(), tower_failover::InvalidConfig>(())
    /// ```
    pub fn route<I, S>(mut self, model: impl Into<String>, fallbacks: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let fallbacks = fallbacks.into_iter().map(Into::into).collect();
        self.routes.push((model.into(), fallbacks));
        self
    }

    /// Declares a model with no fallbacks of its own (a leaf such as a cheap
    /// baseline). A model that only appears in other lists must be declared
    /// with this or with [`route`](Self::route), but not with both.
    ///
    /// ```
    /// use tower_failover::fallback::FallbackGraph;
    ///
    /// let graph = FallbackGraph::builder()
    ///     .route("gpt-4o", ["gpt-4o-mini"])
    ///     .model("gpt-4o-mini")
    ///     .build()?;
    /// assert_eq!(graph.chain("gpt-4o-mini").unwrap().len(), 0);
    /// # Ok::<(), tower_failover::InvalidConfig>(())
    /// ```
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.routes.push((model.into(), Vec::new()));
        self
    }

    /// The most tiers in one chain, the model itself included: with 3, a
    /// model may have at most 2 fallbacks, transitive ones included. From 1
    /// to [`MAX_TIERS`](super::MAX_TIERS); default [`DEFAULT_MAX_DEPTH`].
    ///
    /// ```
    /// use tower_failover::fallback::FallbackGraph;
    ///
    /// let error = FallbackGraph::builder()
    ///     .route("a", ["b"])
    ///     .route("b", ["c"])
    ///     .model("c")
    ///     .max_depth(2)
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(error.reason(), "a fallback chain is longer than max_depth");
    /// assert_eq!(error.detail(), Some("a → b → c"));
    ///
    /// let error = FallbackGraph::builder().max_depth(0).build().unwrap_err();
    /// assert_eq!(error.to_string(), "invalid fallback setting max_depth: must be between 1 and 16");
    /// ```
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Checks the graph and computes every model's chain.
    ///
    /// # Errors
    ///
    /// [`InvalidConfig`] with layer `"fallback"`. With field `"max_depth"`
    /// if it is outside 1 to [`MAX_TIERS`](super::MAX_TIERS). Otherwise with
    /// field `"route"`, its [`detail`](InvalidConfig::detail) naming what
    /// is wrong, if
    ///
    /// - a model name is empty (detail: the model whose list names `""`,
    ///   e.g. `gpt-4o → ""`, if the name is in a list);
    /// - a model is declared twice (detail: its name);
    /// - a fallback list names a model twice (`gpt-4o → claude`);
    /// - a fallback list names an unknown model (`gpt-4o → clude`);
    /// - the fallback lists form a cycle, a model listing itself included
    ///   (the cycle, `a → b → c → a`);
    /// - a fallback chain is longer than max_depth (the model and its whole
    ///   chain, `a → b → c → d → e`).
    ///
    /// When there are several problems, one is reported, always the same:
    /// the first four kinds are checked declaration by declaration, so the
    /// first declaration at fault is reported; then cycles, walking from
    /// each model in declaration order; then the chains, in declaration
    /// order.
    ///
    /// ```
    /// use tower_failover::fallback::FallbackGraph;
    ///
    /// let error = FallbackGraph::builder()
    ///     .route("gpt-4o", ["claude", "claude"])
    ///     .model("claude")
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "invalid fallback setting route: a fallback list names a model twice (gpt-4o → claude)",
    /// );
    /// ```
    pub fn build(self) -> Result<FallbackGraph, InvalidConfig> {
        if !(1..=MAX_TIERS).contains(&self.max_depth) {
            return Err(InvalidConfig::new(
                LAYER,
                "max_depth",
                "must be between 1 and 16",
            ));
        }

        let names: Vec<Arc<str>> = self
            .routes
            .iter()
            .map(|(model, _)| Arc::from(model.as_str()))
            .collect();
        let mut index = HashMap::with_capacity(names.len());
        for (position, name) in names.iter().enumerate() {
            index.entry(Arc::clone(name)).or_insert(position);
        }

        // Resolve every list to positions, declaration by declaration.
        let mut lists = Vec::with_capacity(names.len());
        // `listed_by[j] == i`: model `j` is already in the list of model `i`.
        let mut listed_by = vec![usize::MAX; names.len()];
        for (position, (model, fallbacks)) in self.routes.iter().enumerate() {
            if model.is_empty() {
                return Err(route_error(EMPTY_NAME));
            }
            if index[model.as_str()] != position {
                return Err(route_error(DECLARED_TWICE).with_detail(model.as_str()));
            }
            let mut list = Vec::with_capacity(fallbacks.len());
            for fallback in fallbacks {
                if fallback.is_empty() {
                    return Err(route_error(EMPTY_NAME).with_detail(format!("{model}{ARROW}\"\"")));
                }
                let Some(&target) = index.get(fallback.as_str()) else {
                    return Err(route_error(UNKNOWN).with_detail(path([model, fallback])));
                };
                if listed_by[target] == position {
                    return Err(route_error(LISTED_TWICE).with_detail(path([model, fallback])));
                }
                listed_by[target] = position;
                list.push(target);
            }
            lists.push(list);
        }

        if let Some(cycle) = find_cycle(&lists) {
            let detail = path(cycle.iter().map(|&position| &*names[position]));
            return Err(route_error(CYCLE).with_detail(detail));
        }

        let mut entries = Vec::with_capacity(names.len());
        let mut expansion = Expansion::new(names.len());
        for (position, name) in names.iter().enumerate() {
            let chain = expansion.chain(position, &lists);
            if chain.len() + 1 > self.max_depth {
                let models = chain.iter().map(|&fallback| &*names[fallback]);
                let detail = path(std::iter::once(&**name).chain(models));
                return Err(route_error(TOO_DEEP).with_detail(detail));
            }
            entries.push(Entry {
                model: Arc::clone(name),
                chain: chain
                    .iter()
                    .map(|&fallback| Arc::clone(&names[fallback]))
                    .collect(),
            });
        }

        Ok(FallbackGraph {
            entries: entries.into_boxed_slice(),
            index,
            max_depth: self.max_depth,
        })
    }
}

fn route_error(reason: &'static str) -> InvalidConfig {
    InvalidConfig::new(LAYER, "route", reason)
}

/// `a → b → c`.
fn path<S: AsRef<str>>(models: impl IntoIterator<Item = S>) -> String {
    let mut path = String::new();
    for (n, model) in models.into_iter().enumerate() {
        if n > 0 {
            path.push_str(ARROW);
        }
        path.push_str(model.as_ref());
    }
    path
}

/// The first cycle met by a depth-first walk from each model in declaration
/// order, following each list in order: its models, the first repeated at
/// the end. Iterative, so a long chain cannot overflow the stack.
fn find_cycle(lists: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Mark {
        Unvisited,
        OnPath,
        Done,
    }

    let mut marks = vec![Mark::Unvisited; lists.len()];
    // The models on the current path, each with the next fallback to follow.
    let mut walk: Vec<(usize, usize)> = Vec::new();
    for root in 0..lists.len() {
        if marks[root] != Mark::Unvisited {
            continue;
        }
        marks[root] = Mark::OnPath;
        walk.push((root, 0));
        while let Some((model, next)) = walk.last_mut() {
            let Some(&fallback) = lists[*model].get(*next) else {
                marks[*model] = Mark::Done;
                walk.pop();
                continue;
            };
            *next += 1;
            match marks[fallback] {
                Mark::Unvisited => {
                    marks[fallback] = Mark::OnPath;
                    walk.push((fallback, 0));
                }
                Mark::OnPath => {
                    // On the path, so found: the cycle runs from there.
                    let start = walk
                        .iter()
                        .position(|&(model, _)| model == fallback)
                        .unwrap_or(0);
                    let mut cycle: Vec<usize> = walk[start..].iter().map(|&(m, _)| m).collect();
                    cycle.push(fallback);
                    return Some(cycle);
                }
                Mark::Done => {}
            }
        }
    }
    None
}

/// Expands lists into chains, reusing its buffers from one model to the next.
struct Expansion {
    // `seen[j] == i`: model `j` is already in the chain of model `i`.
    seen: Vec<usize>,
    walk: Vec<(usize, usize)>,
    chain: Vec<usize>,
}

impl Expansion {
    fn new(models: usize) -> Self {
        Self {
            seen: vec![usize::MAX; models],
            walk: Vec::new(),
            chain: Vec::new(),
        }
    }

    /// The chain of `root`: its list depth-first in pre-order, each model
    /// where it first appears. The lists must have no cycle.
    fn chain(&mut self, root: usize, lists: &[Vec<usize>]) -> &[usize] {
        self.chain.clear();
        self.walk.clear();
        self.seen[root] = root;
        self.walk.push((root, 0));
        while let Some((model, next)) = self.walk.last_mut() {
            let Some(&fallback) = lists[*model].get(*next) else {
                self.walk.pop();
                continue;
            };
            *next += 1;
            if self.seen[fallback] != root {
                self.seen[fallback] = root;
                self.chain.push(fallback);
                self.walk.push((fallback, 0));
            }
        }
        &self.chain
    }
}
