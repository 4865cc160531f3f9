//! The contract document (`dbus/README.md`, which the book's reference
//! includes as it is: `docs/src/reference/dbus-contract.md`) against the
//! code, so that it cannot drift: its tables must list exactly the introspection XML's
//! properties, methods and signals with their types (both directions), the
//! error names and polkit action ids of `src/names.rs` (with the defaults of
//! `polkit/org.piclock.Clock1.policy`), and every `PulseConfig` key of the
//! core's key table with its type, default and accepted range.
//!
//! The XML is read with a tiny parser of its own: `<method name=`,
//! `<signal name=`, `<property name= type= access=`, `<arg name= type=
//! direction=` and the EmitsChangedSignal annotation are all it needs.

use piclock_core::pulse_config::{KeyKind, KEYS};
use piclock_dbus::{interface_element, BUS_NAME, INTERFACE, INTROSPECTION_XML, OBJECT_PATH};
use std::collections::BTreeMap;

const DOC: &str = include_str!("../README.md");
const NAMES_RS: &str = include_str!("../src/names.rs");
const POLICY: &str = include_str!("../../polkit/org.piclock.Clock1.policy");
const BOOK_CHAPTER: &str = include_str!("../../docs/src/reference/dbus-contract.md");
const EMITS: &str = "org.freedesktop.DBus.Property.EmitsChangedSignal";

/// One `<arg>` of a method or signal.
#[derive(Debug, Clone)]
struct Arg {
    name: String,
    ty: String,
    out: bool,
}

/// One `<property>`.
#[derive(Debug, Clone)]
struct Property {
    ty: String,
    access: String,
    /// The EmitsChangedSignal annotation (`true` when there is none).
    emits: String,
}

/// The members of the interface element of an introspection document.
#[derive(Debug, Default)]
struct Interface {
    methods: BTreeMap<String, Vec<Arg>>,
    signals: BTreeMap<String, Vec<Arg>>,
    properties: BTreeMap<String, Property>,
}

/// The value of `key="..."` in a tag.
fn attr(tag: &str, key: &str) -> Option<String> {
    let pattern = format!(" {key}=\"");
    let start = tag.find(&pattern)? + pattern.len();
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].to_owned())
}

#[derive(Clone, Copy, PartialEq)]
enum Open {
    Nothing,
    Method,
    Signal,
    Property,
}

/// Parses the `org.piclock.Clock1` interface of `xml`.
fn parse_xml(xml: &str) -> Interface {
    let element = interface_element(xml).expect("the XML has the org.piclock.Clock1 interface");
    let mut iface = Interface::default();
    let (mut open, mut current) = (Open::Nothing, String::new());
    for piece in element.split('<').skip(1) {
        let tag = piece.split('>').next().expect("a tag").replace(char::is_whitespace, " ");
        let kind = tag.split(' ').next().unwrap_or_default().trim_end_matches('/').to_owned();
        let closed = tag.ends_with('/');
        let name = attr(&tag, "name").unwrap_or_default();
        match kind.as_str() {
            "method" => {
                iface.methods.insert(name.clone(), Vec::new());
                (open, current) = (if closed { Open::Nothing } else { Open::Method }, name);
            }
            "signal" => {
                iface.signals.insert(name.clone(), Vec::new());
                (open, current) = (if closed { Open::Nothing } else { Open::Signal }, name);
            }
            "property" => {
                let ty = attr(&tag, "type").unwrap_or_default();
                let access = attr(&tag, "access").unwrap_or_default();
                iface.properties.insert(name.clone(), Property { ty, access, emits: "true".to_owned() });
                (open, current) = (if closed { Open::Nothing } else { Open::Property }, name);
            }
            "/method" | "/signal" | "/property" => open = Open::Nothing,
            "arg" => {
                let ty = attr(&tag, "type").unwrap_or_default();
                let out = open == Open::Signal || attr(&tag, "direction").as_deref() == Some("out");
                let list = if open == Open::Method { &mut iface.methods } else { &mut iface.signals };
                list.get_mut(&current).expect("an arg inside a method or signal").push(Arg { name, ty, out });
            }
            "annotation" if open == Open::Property && name == EMITS => {
                let p = iface.properties.get_mut(&current).expect("open property");
                p.emits = attr(&tag, "value").unwrap_or_default();
            }
            _ => {}
        }
    }
    iface
}

/// The text of the `## heading` section of the document.
fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let marker = format!("\n## {heading}\n");
    let start = doc.find(&marker).unwrap_or_else(|| panic!("the document has no section '## {heading}'"));
    let body = &doc[start + marker.len()..];
    &body[..body.find("\n## ").unwrap_or(body.len())]
}

/// The rows of the first table of the `## heading` section, cells trimmed and
/// without backticks; the header must be `header`.
fn table(doc: &str, heading: &str, header: &[&str]) -> Vec<Vec<String>> {
    let mut rows = section(doc, heading)
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.trim().trim_matches('|').split('|').map(|c| c.trim().replace('`', "")).collect::<Vec<_>>());
    let head = rows.next().unwrap_or_else(|| panic!("section '{heading}' has no table"));
    assert_eq!(head, header, "the header of the table in '## {heading}'");
    rows.skip(1).collect()
}

/// `s position, b interactive`: types and names, in order.
fn signature(args: &[&Arg]) -> String {
    if args.is_empty() {
        return "none".to_owned();
    }
    args.iter().map(|a| format!("{} {}", a.ty, a.name)).collect::<Vec<_>>().join(", ")
}

/// Rows by their first cell; a name documented twice is a problem.
fn by_name(rows: Vec<Vec<String>>, what: &str, problems: &mut Vec<String>) -> BTreeMap<String, Vec<String>> {
    let mut map = BTreeMap::new();
    for row in rows {
        if map.insert(row[0].clone(), row.clone()).is_some() {
            problems.push(format!("{what} {} is documented twice", row[0]));
        }
    }
    map
}

/// Names present on one side only.
fn compare_sets<'a, A, B>(what: &str, xml: A, doc: B, problems: &mut Vec<String>)
where
    A: IntoIterator<Item = &'a String>,
    B: IntoIterator<Item = &'a String>,
{
    let (xml, doc): (Vec<&String>, Vec<&String>) = (xml.into_iter().collect(), doc.into_iter().collect());
    for name in xml.iter().filter(|n| !doc.contains(n)) {
        problems.push(format!("{what} {name} is in the XML but not in the document"));
    }
    for name in doc.iter().filter(|n| !xml.contains(n)) {
        problems.push(format!("{what} {name} is in the document but not in the XML"));
    }
}

/// Problems of the Properties table against the XML.
fn property_problems(doc: &str, iface: &Interface) -> Vec<String> {
    let mut problems = Vec::new();
    let rows = table(doc, "Properties", &["property", "type", "PropertiesChanged", "meaning"]);
    let documented = by_name(rows, "property", &mut problems);
    compare_sets("property", iface.properties.keys(), documented.keys(), &mut problems);
    for (name, p) in &iface.properties {
        let Some(row) = documented.get(name) else { continue };
        if row[1] != p.ty {
            problems.push(format!("property {name}: type '{}' in the XML, '{}' in the document", p.ty, row[1]));
        }
        let emits = match p.emits.as_str() {
            "true" => "yes",
            "false" => "no",
            other => other,
        };
        if row[2] != emits {
            problems
                .push(format!("property {name}: PropertiesChanged '{emits}' in the XML, '{}' in the document", row[2]));
        }
        if p.access != "read" {
            problems
                .push(format!("property {name}: access '{}'; the contract says every property is read-only", p.access));
        }
    }
    problems
}

/// Problems of the Methods table (and its `### Method` sections) against the XML.
fn method_problems(doc: &str, iface: &Interface) -> Vec<String> {
    let mut problems = Vec::new();
    let rows = table(doc, "Methods", &["method", "in", "out", "polkit action"]);
    let documented = by_name(rows, "method", &mut problems);
    compare_sets("method", iface.methods.keys(), documented.keys(), &mut problems);
    let actions: Vec<String> = constants("ACTION_").into_values().collect();
    for (name, args) in &iface.methods {
        let Some(row) = documented.get(name) else { continue };
        let ins = signature(&args.iter().filter(|a| !a.out).collect::<Vec<_>>());
        let outs = signature(&args.iter().filter(|a| a.out).collect::<Vec<_>>());
        if row[1] != ins || row[2] != outs {
            problems.push(format!(
                "method {name}: in '{ins}', out '{outs}' in the XML; '{}', '{}' in the document",
                row[1], row[2]
            ));
        }
        if !actions.contains(&row[3]) {
            problems.push(format!("method {name}: polkit action '{}' is not an action id of names.rs", row[3]));
        }
    }
    let headings: Vec<String> =
        section(doc, "Methods").lines().filter_map(|l| l.strip_prefix("### ")).map(str::to_owned).collect();
    for name in iface.methods.keys().filter(|m| !headings.contains(m)) {
        problems.push(format!("method {name} has no '### {name}' section"));
    }
    for name in headings.iter().filter(|h| !iface.methods.contains_key(*h)) {
        problems.push(format!("section '### {name}' is not a method of the XML"));
    }
    problems
}

/// Problems of the Signals table against the XML.
fn signal_problems(doc: &str, iface: &Interface) -> Vec<String> {
    let mut problems = Vec::new();
    let rows = table(doc, "Signals", &["signal", "args", "when"]);
    let documented = by_name(rows, "signal", &mut problems);
    compare_sets("signal", iface.signals.keys(), documented.keys(), &mut problems);
    for (name, args) in &iface.signals {
        let Some(row) = documented.get(name) else { continue };
        let sig = signature(&args.iter().collect::<Vec<_>>());
        if row[1] != sig {
            problems.push(format!("signal {name}: args '{sig}' in the XML, '{}' in the document", row[1]));
        }
    }
    problems
}

/// Every problem of the document's member tables against `xml`.
fn member_problems(doc: &str, xml: &str) -> Vec<String> {
    let iface = parse_xml(xml);
    let mut problems = property_problems(doc, &iface);
    problems.extend(method_problems(doc, &iface));
    problems.extend(signal_problems(doc, &iface));
    problems
}

/// The string constants of `src/names.rs` whose names start with `prefix`,
/// by constant name (`""`: all, also those of the nested modules).
fn constants(prefix: &str) -> BTreeMap<String, String> {
    NAMES_RS
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub const "))
        .filter_map(|l| {
            let (name, rest) = l.split_once(": &str = \"")?;
            Some((name.to_owned(), rest.strip_suffix("\";")?.to_owned()))
        })
        .filter(|(name, _)| name.starts_with(prefix))
        .collect()
}

/// The defaults of `action` in the policy file: allow_any, allow_inactive, allow_active.
fn policy_defaults(action: &str) -> Vec<String> {
    let start =
        POLICY.find(&format!("<action id=\"{action}\">")).unwrap_or_else(|| panic!("{action} not in the policy"));
    let block = &POLICY[start..start + POLICY[start..].find("</action>").expect("</action>")];
    ["allow_any", "allow_inactive", "allow_active"]
        .iter()
        .map(|key| {
            let open = format!("<{key}>");
            let from = block.find(&open).unwrap_or_else(|| panic!("{action}: no {key}")) + open.len();
            block[from..from + block[from..].find('<').expect("closing tag")].trim().to_owned()
        })
        .collect()
}

fn assert_none(problems: Vec<String>) {
    assert!(problems.is_empty(), "dbus/README.md and the code differ:\n  {}", problems.join("\n  "));
}

#[test]
fn every_member_of_the_xml_is_documented_with_its_type_and_nothing_else() {
    assert_none(member_problems(DOC, INTROSPECTION_XML));
}

#[test]
fn the_names_are_those_of_names_rs() {
    let rows = table(DOC, "Names", &["what", "name"]);
    let expected = [["bus name", BUS_NAME], ["object path", OBJECT_PATH], ["interface", INTERFACE]];
    assert_eq!(rows, expected.map(|r| r.map(str::to_owned).to_vec()).to_vec());
}

#[test]
fn the_errors_are_exactly_those_of_names_rs() {
    let rows = table(DOC, "Errors", &["error", "when"]);
    let documented: Vec<&String> = rows.iter().map(|r| &r[0]).collect();
    let errors = constants("ERROR_");
    assert!(!errors.is_empty(), "names.rs has ERROR_ constants");
    let mut expected: Vec<&String> = errors.values().collect();
    let mut got = documented.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "error names of the document vs names.rs");
}

#[test]
fn the_polkit_actions_are_those_of_names_rs_with_the_policy_defaults() {
    let rows = table(DOC, "polkit actions", &["action", "methods", "allow_any", "allow_inactive", "allow_active"]);
    let mut documented: Vec<&String> = rows.iter().map(|r| &r[0]).collect();
    let actions = constants("ACTION_");
    let mut expected: Vec<&String> = actions.values().collect();
    documented.sort();
    expected.sort();
    assert_eq!(documented, expected, "action ids of the document vs names.rs");
    let methods = table(DOC, "Methods", &["method", "in", "out", "polkit action"]);
    for row in &rows {
        assert_eq!(row[2..].to_vec(), policy_defaults(&row[0]), "{}: defaults of the document vs the policy", row[0]);
        let users: Vec<&str> = methods.iter().filter(|m| m[3] == row[0]).map(|m| m[0].as_str()).collect();
        assert_eq!(row[1], users.join(", "), "{}: the methods that ask for it (Methods table)", row[0]);
    }
}

#[test]
fn every_name_constant_appears_in_the_document() {
    let all = constants("");
    assert!(all.len() >= 15, "{all:?}");
    for (name, value) in all {
        assert!(DOC.contains(&format!("`{value}`")), "{name} = {value:?} is not in dbus/README.md (in backticks)");
    }
}

#[test]
fn every_pulse_config_key_is_documented_as_the_key_table_defines_it() {
    let rows = table(DOC, "PulseConfig keys", &["key", "type", "default", "accepted", "meaning"]);
    let documented: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    let keys: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
    assert_eq!(documented, keys, "the keys, in the order of the core's KEYS table");
    for (row, spec) in rows.iter().zip(KEYS) {
        let accepted = match spec.kind {
            KeyKind::U32 { min, max } => format!("{min}..={max}"),
            KeyKind::Bool => "true, false".to_owned(),
        };
        let expected = [spec.name.to_owned(), spec.signature().to_owned(), spec.default.to_string(), accepted];
        assert_eq!(row[..4], expected, "PulseConfig key {}", spec.name);
    }
}

/// The XML with `extra` added to the interface.
fn xml_with(extra: &str) -> String {
    INTROSPECTION_XML.replace("</interface>", &format!("{extra}</interface>"))
}

#[test]
fn a_member_the_document_lacks_is_found() {
    let cases = [
        (
            "<property name=\"Extra\" type=\"u\" access=\"read\"/>",
            "property Extra is in the XML but not in the document",
        ),
        ("<method name=\"Extra\"><arg name=\"a\" type=\"s\" direction=\"in\"/></method>", "method Extra is in the XML"),
        ("<method name=\"Bare\"/>", "method Bare is in the XML but not in the document"),
        ("<signal name=\"Extra\"><arg name=\"a\" type=\"s\"/></signal>", "signal Extra is in the XML but not"),
    ];
    for (extra, expected) in cases {
        let problems = member_problems(DOC, &xml_with(extra));
        assert!(problems.iter().any(|p| p.starts_with(expected)), "{extra}: {problems:?}");
    }
    // A changed type or PropertiesChanged behaviour, and a new argument.
    let changed = INTROSPECTION_XML
        .replace("<property name=\"DialSeconds\" type=\"u\"", "<property name=\"DialSeconds\" type=\"t\"")
        .replace("<property name=\"Faults\" type=\"as\" access=\"read\"/>", &format!("<property name=\"Faults\" type=\"as\" access=\"read\"><annotation name=\"{EMITS}\" value=\"false\"/></property>"))
        .replace("<arg name=\"ticks\" type=\"i\" direction=\"in\"/>", "<arg name=\"ticks\" type=\"x\" direction=\"in\"/>")
        .replace("<arg name=\"message\" type=\"s\"/>", "<arg name=\"message\" type=\"s\"/><arg name=\"more\" type=\"u\"/>");
    let problems = member_problems(DOC, &changed);
    for expected in
        ["property DialSeconds: type", "property Faults: PropertiesChanged", "method Step: in", "signal SyncFinished"]
    {
        assert!(problems.iter().any(|p| p.starts_with(expected)), "{expected}: {problems:?}");
    }
}

#[test]
fn a_documented_member_the_xml_lacks_is_found() {
    let version_row = "| `Version` | `s` | const | the daemon's version |\n";
    assert!(DOC.contains(version_row), "the Version row as this test knows it");
    let cases = [
        (
            version_row.to_owned(),
            format!("{version_row}| `Gone` | `u` | yes | not in the XML |\n"),
            "property Gone is in the document",
        ),
        (
            version_row.to_owned(),
            format!("{version_row}| `Version` | `s` | const | twice |\n"),
            "property Version is documented twice",
        ),
        (
            "| `Pause` | `b interactive` |".to_owned(),
            "| `Gone` | `b interactive` | none | `org.piclock.clock1.control` |\n| `Pause` | `b interactive` |"
                .to_owned(),
            "method Gone is in the document but not in the XML",
        ),
        ("### Pause\n".to_owned(), "### Gone\n\n### Pause\n".to_owned(), "section '### Gone' is not a method"),
        (
            "| `Fault` | `s component, s message` |".to_owned(),
            "| `Fault` | `s component` |".to_owned(),
            "signal Fault: args",
        ),
    ];
    for (from, to, expected) in cases {
        assert!(DOC.contains(&from), "{from}");
        let problems = member_problems(&DOC.replacen(&from, &to, 1), INTROSPECTION_XML);
        assert!(problems.iter().any(|p| p.starts_with(expected)), "{expected}: {problems:?}");
    }
}

#[test]
fn the_parser_sees_every_member_of_the_shipped_xml() {
    let iface = parse_xml(INTROSPECTION_XML);
    // At least the members of the first release (members are only ever added).
    assert!(iface.methods.len() >= 8 && iface.signals.len() >= 2 && iface.properties.len() >= 21, "{iface:?}");
    assert_eq!(signature(&iface.methods["Pause"].iter().collect::<Vec<_>>()), "b interactive");
    assert_eq!(signature(&iface.signals["Fault"].iter().collect::<Vec<_>>()), "s component, s message");
    assert_eq!(signature(&iface.methods["SetHandPosition"].iter().collect::<Vec<_>>()), "s position, b interactive");
    assert_eq!(iface.properties["TimeUSec"].emits, "false");
    assert_eq!(iface.properties["Version"].emits, "const");
    assert_eq!(iface.properties["PulseConfig"].ty, "a{sv}");
    assert_eq!(iface.properties["PulseConfig"].emits, "true");
}

#[test]
fn the_book_includes_this_document_rather_than_a_copy() {
    assert!(
        BOOK_CHAPTER.contains("{{#include ../../../dbus/README.md}}"),
        "docs/src/reference/dbus-contract.md must include dbus/README.md with mdBook's {{{{#include}}}}"
    );
    assert!(!BOOK_CHAPTER.contains("## Methods"), "the book's contract chapter holds a copy of the contract");
}
