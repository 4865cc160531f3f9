//! The configuration reference has one text in two places: the block of
//! `/etc/piclock/piclockd.toml` in the book's configuration chapter
//! (`docs/src/reference/configuration.md`) and in the CONFIGURATION section
//! of `man/piclockd.8`. This test keeps them the same, line for line, and
//! keeps the defaults they show true: the block as written (its commented-out
//! sections are TOML comments) parses to the built-in defaults, and each
//! commented-out section, uncommented, to that section with only its
//! example keys set. No daemon is started.

use piclockd::admin_config::AdminConfig;
use std::path::Path;

const BOOK: &str = include_str!("../../docs/src/reference/configuration.md");
const MAN: &str = include_str!("../../man/piclockd.8");
const MARKER: &str = "<!-- config-block:";

/// The ```toml block after the marker in the book's chapter.
fn book_block() -> Vec<String> {
    let after = BOOK.split(MARKER).nth(1).expect("the config-block marker in configuration.md");
    let block = after.split("```toml\n").nth(1).and_then(|b| b.split("\n```").next()).expect("a toml block");
    block.lines().map(str::to_owned).collect()
}

/// The first `.nf` … `.fi` block of the man page's CONFIGURATION section,
/// with the roff escapes it uses turned back into text.
fn man_block() -> Vec<String> {
    let section = MAN.split(".SH CONFIGURATION").nth(1).expect("a CONFIGURATION section in man/piclockd.8");
    let section = section.split("\n.SH ").next().unwrap_or(section);
    let block = section.split(".nf\n").nth(1).and_then(|b| b.split(".fi\n").next()).expect("a .nf block");
    block.lines().map(|l| l.replace("\\-", "-").replace("\\(dq", "\"").replace("\\e", "\\")).collect()
}

fn parse(text: &str) -> AdminConfig {
    AdminConfig::parse(text, Path::new("piclockd.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The block with the commented-out section `name` uncommented.
fn uncommented(block: &[String], name: &str) -> String {
    let head = format!("# [{name}]");
    let mut inside = false;
    let mut out = String::new();
    for line in block {
        if line.starts_with(&head) {
            inside = true;
        } else if line.trim().is_empty() {
            inside = false;
        }
        let line = if inside { line.strip_prefix("# ").unwrap_or(line) } else { line };
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn the_book_and_the_man_page_show_the_same_configuration() {
    let (book, man) = (book_block(), man_block());
    assert!(book.len() > 20, "{book:?}");
    for (i, (b, m)) in book.iter().zip(&man).enumerate() {
        assert_eq!(b, m, "line {} differs: docs/src/reference/configuration.md against man/piclockd.8", i + 1);
    }
    assert_eq!(book.len(), man.len(), "the blocks differ in length:\nbook: {book:#?}\nman: {man:#?}");
}

#[test]
fn the_values_shown_are_the_defaults() {
    let block = book_block();
    let text = block.join("\n");
    assert_eq!(parse(&text), AdminConfig::default(), "the block's keys are not the defaults");

    // Every key of the two optional sections is there, commented out.
    for key in ["seconds", "noon", "active_low", "home_on_start", "window", "tune_drive", "tune_max_on_us"] {
        assert!(block.iter().any(|l| l.starts_with(&format!("# {key} = "))), "[sensor] {key} is not shown");
    }
    for key in ["kind", "step_s", "catch_up"] {
        assert!(block.iter().any(|l| l.starts_with(&format!("# {key} = "))), "[movement] {key} is not shown");
    }

    // [sensor]: the lines are examples; every other key shows its default.
    let sensor = parse(&uncommented(&block, "sensor"));
    let lines_only = parse("[sensor]\nseconds = \"GPIO17\"\nnoon = \"GPIO27\"\n");
    assert_eq!(sensor.sensor, lines_only.sensor, "a [sensor] key's value is not its default");

    // [movement]: kind is the example; step_s and catch_up show their defaults.
    let movement = parse(&uncommented(&block, "movement"));
    assert_eq!(movement.movement, parse("[movement]\nkind = \"impulse\"\n").movement);
    assert_ne!(movement.movement, AdminConfig::default().movement, "kind = \"impulse\" should be the example");
}
