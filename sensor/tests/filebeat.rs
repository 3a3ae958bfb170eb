//! The Filebeat path: the shipped `filebeat/filebeat.yml` and `logstash/` pipelines are
//! checked structurally (Filebeat and Logstash are not obtainable here: docs/filebeat.md),
//! and the sensor's Filebeat output is tested against real TCP listeners and a file reader
//! of the test's own that check the NDJSON framing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use netsensor_schema::FIELDS;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every dotted field path of the record schema.
fn schema_fields() -> BTreeSet<&'static str> {
    FIELDS.iter().map(|field| field.name).collect()
}

/// True when `path` is a schema field or an object that holds schema fields.
fn in_schema(path: &str) -> bool {
    let prefix = format!("{path}.");
    FIELDS
        .iter()
        .any(|field| field.name == path || field.name.starts_with(&prefix))
}

// --- a Logstash configuration parser ------------------------------------------------------

/// One token of the Logstash configuration language.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Number(String),
    Arrow,
    Open(char),
    Close(char),
    Comma,
    /// Comparison and boolean operators inside conditionals.
    Op(String),
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '"' | '\'' => {
                let quote = c;
                let start_line = line;
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("line {start_line}: unterminated string")),
                        Some('\\') => {
                            value.push(chars.get(i + 1).copied().unwrap_or('\\'));
                            i += 2;
                        }
                        Some(&q) if q == quote => {
                            i += 1;
                            break;
                        }
                        Some(&other) => {
                            if other == '\n' {
                                line += 1;
                            }
                            value.push(other);
                            i += 1;
                        }
                    }
                }
                tokens.push((start_line, Token::Str(value)));
            }
            '=' if chars.get(i + 1) == Some(&'>') => {
                tokens.push((line, Token::Arrow));
                i += 2;
            }
            '=' | '!' | '<' | '>' if chars.get(i + 1) == Some(&'=') || c == '=' => {
                let op: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                if !["==", "!=", "<=", ">=", "=~", "!~"].contains(&op.as_str()) {
                    return Err(format!("line {line}: unknown operator {op:?}"));
                }
                tokens.push((line, Token::Op(op)));
                i += 2;
            }
            '!' if chars.get(i + 1) == Some(&'~') => {
                tokens.push((line, Token::Op("!~".into())));
                i += 2;
            }
            '!' | '<' | '>' => {
                tokens.push((line, Token::Op(c.to_string())));
                i += 1;
            }
            '{' | '[' | '(' => {
                tokens.push((line, Token::Open(c)));
                i += 1;
            }
            '}' | ']' | ')' => {
                tokens.push((line, Token::Close(c)));
                i += 1;
            }
            ',' => {
                tokens.push((line, Token::Comma));
                i += 1;
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                tokens.push((line, Token::Number(chars[start..i].iter().collect())));
            }
            c if c.is_alphanumeric() || c == '_' || c == '@' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '-' | '@' | '.'))
                {
                    i += 1;
                }
                tokens.push((line, Token::Word(chars[start..i].iter().collect())));
            }
            other => return Err(format!("line {line}: unexpected character {other:?}")),
        }
    }
    Ok(tokens)
}

/// A value of a plugin setting.
#[derive(Debug, Clone)]
enum Value {
    Str(String),
    Bare(String),
    List(Vec<Value>),
    Hash(Vec<(String, Value)>),
    /// `codec => json { ... }`
    Plugin(Plugin),
}

#[derive(Debug, Clone)]
struct Plugin {
    name: String,
    line: usize,
    settings: Vec<(String, Value)>,
}

/// What a pipeline touches: plugins per section, field references in conditionals.
#[derive(Debug, Default)]
struct Pipeline {
    sections: Vec<(String, Vec<Plugin>)>,
    condition_fields: Vec<String>,
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, token)| token)
    }
    fn line(&self) -> usize {
        self.tokens
            .get(self.pos)
            .or(self.tokens.last())
            .map_or(0, |(line, _)| *line)
    }
    fn next(&mut self) -> Result<Token, String> {
        let token = self
            .tokens
            .get(self.pos)
            .map(|(_, token)| token.clone())
            .ok_or("unexpected end of file")?;
        self.pos += 1;
        Ok(token)
    }
    fn expect(&mut self, want: Token) -> Result<(), String> {
        let line = self.line();
        let got = self.next()?;
        if got == want {
            Ok(())
        } else {
            Err(format!("line {line}: expected {want:?}, found {got:?}"))
        }
    }
    fn word(&mut self) -> Result<String, String> {
        let line = self.line();
        match self.next()? {
            Token::Word(word) => Ok(word),
            other => Err(format!("line {line}: expected a name, found {other:?}")),
        }
    }

    fn config(&mut self) -> Result<Pipeline, String> {
        let mut pipeline = Pipeline::default();
        while self.peek().is_some() {
            let line = self.line();
            let section = self.word()?;
            if !["input", "filter", "output"].contains(&section.as_str()) {
                return Err(format!("line {line}: unknown section {section:?}"));
            }
            self.expect(Token::Open('{'))?;
            let mut plugins = Vec::new();
            self.block(&mut plugins, &mut pipeline.condition_fields)?;
            pipeline.sections.push((section, plugins));
        }
        Ok(pipeline)
    }

    /// Plugins and conditionals up to the closing brace.
    fn block(&mut self, plugins: &mut Vec<Plugin>, fields: &mut Vec<String>) -> Result<(), String> {
        loop {
            match self.peek() {
                Some(Token::Close('}')) => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(Token::Word(word)) if word == "if" => {
                    self.pos += 1;
                    self.conditional(plugins, fields)?;
                }
                Some(Token::Word(_)) => {
                    let plugin = self.plugin()?;
                    plugins.push(plugin);
                }
                None => return Err("unexpected end of file".into()),
                _ => {
                    let line = self.line();
                    return Err(format!(
                        "line {line}: expected a plugin, found {:?}",
                        self.peek()
                    ));
                }
            }
        }
    }

    fn conditional(
        &mut self,
        plugins: &mut Vec<Plugin>,
        fields: &mut Vec<String>,
    ) -> Result<(), String> {
        loop {
            // The condition: field references, values and operators up to the block.
            let line = self.line();
            let mut operands = 0;
            while self.peek() != Some(&Token::Open('{')) {
                match self.next()? {
                    Token::Open('[') if matches!(self.peek(), Some(Token::Word(_))) => {
                        self.pos -= 1;
                        fields.push(self.field_reference()?);
                        operands += 1;
                    }
                    Token::Open('[') => {
                        // A list literal (`[x] in ["a", "b"]`).
                        self.pos -= 1;
                        self.value()?;
                        operands += 1;
                    }
                    Token::Str(_) | Token::Number(_) => operands += 1,
                    Token::Word(word)
                        if ["and", "or", "xor", "nand", "in", "not"].contains(&word.as_str()) => {}
                    Token::Op(_) | Token::Open('(') | Token::Close(')') => {}
                    other => {
                        return Err(format!("line {line}: unexpected {other:?} in a condition"))
                    }
                }
            }
            if operands == 0 {
                return Err(format!("line {line}: empty condition"));
            }
            self.expect(Token::Open('{'))?;
            self.block(plugins, fields)?;
            match (self.peek(), self.tokens.get(self.pos + 1).map(|(_, t)| t)) {
                (Some(Token::Word(e)), Some(Token::Word(i))) if e == "else" && i == "if" => {
                    self.pos += 2;
                }
                (Some(Token::Word(e)), _) if e == "else" => {
                    self.pos += 1;
                    self.expect(Token::Open('{'))?;
                    return self.block(plugins, fields);
                }
                _ => return Ok(()),
            }
        }
    }

    /// `[a][b][c]` as the dotted path `a.b.c`.
    fn field_reference(&mut self) -> Result<String, String> {
        let mut parts = Vec::new();
        while self.peek() == Some(&Token::Open('[')) {
            self.pos += 1;
            parts.push(self.word()?);
            self.expect(Token::Close(']'))?;
        }
        Ok(parts.join("."))
    }

    fn plugin(&mut self) -> Result<Plugin, String> {
        let line = self.line();
        let name = self.word()?;
        self.expect(Token::Open('{'))?;
        let settings = self.settings()?;
        Ok(Plugin {
            name,
            line,
            settings,
        })
    }

    fn settings(&mut self) -> Result<Vec<(String, Value)>, String> {
        let mut settings = Vec::new();
        loop {
            let line = self.line();
            let key = match self.next()? {
                Token::Close('}') => return Ok(settings),
                Token::Word(key) | Token::Str(key) => key,
                other => return Err(format!("line {line}: expected a setting, found {other:?}")),
            };
            self.expect(Token::Arrow)?;
            let value = self.value()?;
            settings.push((key, value));
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        let line = self.line();
        match self.next()? {
            Token::Str(text) => Ok(Value::Str(text)),
            Token::Number(number) => Ok(Value::Bare(number)),
            Token::Word(word) => {
                if self.peek() == Some(&Token::Open('{')) {
                    self.pos += 1;
                    let settings = self.settings()?;
                    Ok(Value::Plugin(Plugin {
                        name: word,
                        line,
                        settings,
                    }))
                } else {
                    Ok(Value::Bare(word))
                }
            }
            Token::Open('[') => {
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(&Token::Close(']')) {
                        self.pos += 1;
                        return Ok(Value::List(items));
                    }
                    items.push(self.value()?);
                    match self.next()? {
                        Token::Comma => {}
                        Token::Close(']') => return Ok(Value::List(items)),
                        other => {
                            return Err(format!(
                                "line {line}: expected , or ] in a list, found {other:?}"
                            ))
                        }
                    }
                }
            }
            Token::Open('{') => {
                let mut entries = Vec::new();
                loop {
                    match self.next()? {
                        Token::Close('}') => return Ok(Value::Hash(entries)),
                        Token::Str(key) | Token::Word(key) => {
                            self.expect(Token::Arrow)?;
                            entries.push((key, self.value()?));
                        }
                        other => return Err(format!("line {line}: bad hash entry {other:?}")),
                    }
                }
            }
            other => Err(format!("line {line}: expected a value, found {other:?}")),
        }
    }
}

fn parse_pipeline(text: &str) -> Result<Pipeline, String> {
    let tokens = tokenize(text)?;
    Parser { tokens, pos: 0 }.config()
}

fn setting<'a>(plugin: &'a Plugin, key: &str) -> Option<&'a Value> {
    plugin
        .settings
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value)
}

fn string_setting<'a>(plugin: &'a Plugin, key: &str) -> Option<&'a str> {
    match setting(plugin, key)? {
        Value::Str(text) | Value::Bare(text) => Some(text),
        _ => None,
    }
}

/// The field paths of `%{[a][b]}` references in `text`.
fn sprintf_fields(text: &str) -> Vec<String> {
    text.split("%{")
        .skip(1)
        .filter_map(|rest| rest.split('}').next())
        .map(|reference| {
            reference
                .trim_start_matches('[')
                .trim_end_matches(']')
                .replace("][", ".")
        })
        .collect()
}

/// Fields Beats and Logstash add to an event, which the pipelines remove so the record
/// stays as the sensor wrote it. None of them is a schema field.
const TRANSPORT_FIELDS: &[&str] = &[
    "@version",
    "agent",
    "ecs",
    "host",
    "input",
    "log",
    "tags",
    "message",
    "event.original",
];

#[test]
fn logstash_pipelines_parse_and_touch_only_schema_fields() {
    let dir = repo_root().join("logstash/pipelines");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "conf"))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "beats-elasticsearch.conf",
            "kafka-elasticsearch.conf",
            "kafka-opensearch.conf"
        ]
    );
    let schema = schema_fields();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let name = file.display();
        let pipeline = parse_pipeline(&text).unwrap_or_else(|error| panic!("{name}: {error}"));
        let sections: Vec<&str> = pipeline.sections.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(sections, ["input", "filter", "output"], "{name}");
        let plugins = |section: &str| -> Vec<&Plugin> {
            pipeline
                .sections
                .iter()
                .filter(|(s, _)| s == section)
                .flat_map(|(_, plugins)| plugins.iter())
                .collect()
        };

        // Fields read in conditionals exist in the schema.
        for field in &pipeline.condition_fields {
            assert!(
                schema.contains(field.as_str()),
                "{name}: condition on {field}"
            );
        }
        // Fields removed are transport metadata, never part of the record.
        for plugin in plugins("filter") {
            if let Some(Value::List(removed)) = setting(plugin, "remove_field") {
                for value in removed {
                    let Value::Str(reference) = value else {
                        panic!("{name}: remove_field entry {value:?}")
                    };
                    let field = reference
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .replace("][", ".");
                    assert!(
                        TRANSPORT_FIELDS.contains(&field.as_str()),
                        "{name}: removes {field}"
                    );
                    assert!(!in_schema(&field), "{name}: removes schema field {field}");
                }
            }
        }

        // One input of the expected kind; Kafka topics are the sensor's default topics.
        let inputs = plugins("input");
        assert_eq!(inputs.len(), 1, "{name}");
        let input = inputs[0];
        if name.to_string().contains("kafka-") {
            assert_eq!(input.name, "kafka", "{name}");
            let Some(Value::List(topics)) = setting(input, "topics") else {
                panic!("{name}: no topics")
            };
            let topics: Vec<String> = topics
                .iter()
                .map(|topic| match topic {
                    Value::Str(topic) => topic.clone(),
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(
                topics,
                ["netsensor-packet", "netsensor-flow", "netsensor-rollup"]
            );
            let Some(Value::Plugin(codec)) = setting(input, "codec") else {
                panic!("{name}: the kafka input needs the json codec")
            };
            assert_eq!(codec.name, "json", "{name}");
        } else {
            assert_eq!(input.name, "beats", "{name}");
        }

        // One output: create into the record's data stream with the record's id.
        let outputs = plugins("output");
        assert_eq!(outputs.len(), 1, "{name}");
        let output = outputs[0];
        let want = if name.to_string().contains("opensearch") {
            "opensearch"
        } else {
            "elasticsearch"
        };
        assert_eq!(output.name, want, "{name} line {}", output.line);
        assert_eq!(string_setting(output, "action"), Some("create"), "{name}");
        assert_eq!(
            string_setting(output, "document_id"),
            Some("%{[event][id]}"),
            "{name}"
        );
        assert_eq!(
            string_setting(output, "manage_template"),
            Some("false"),
            "{name}"
        );
        assert_eq!(
            string_setting(output, "ecs_compatibility"),
            Some("v8"),
            "{name}"
        );
        let index = string_setting(output, "index").unwrap();
        assert!(
            index.starts_with("logs-%{[event][dataset]}-"),
            "{name}: {index}"
        );
        for field in sprintf_fields(index).into_iter().chain(sprintf_fields(
            string_setting(output, "document_id").unwrap(),
        )) {
            assert!(schema.contains(field.as_str()), "{name}: {field}");
        }
    }
}

#[test]
fn logstash_parser_rejects_broken_pipelines() {
    for (text, want) in [
        ("input { kafka { topics => [\"a\" } }", "expected , or ]"),
        (
            "input { kafka { codec => json { } }",
            "unexpected end of file",
        ),
        ("inputs { }", "unknown section"),
        ("filter { if { drop {} } }", "empty condition"),
        (
            "output { x { a => \"unterminated } }",
            "unterminated string",
        ),
    ] {
        let error = parse_pipeline(text).unwrap_err();
        assert!(error.contains(want), "{text}: {error}");
    }
    let pipeline = parse_pipeline(
        "filter { if [a][b] == \"x\" and ![c] { drop {} } else if [d] in [\"y\"] { mutate { add_field => { \"k\" => \"v\" } } } else { } }",
    )
    .unwrap();
    assert_eq!(pipeline.condition_fields, ["a.b", "c", "d"]);
    let plugins = &pipeline.sections[0].1;
    assert_eq!(plugins.len(), 2);
    let Some(Value::Hash(entries)) = setting(&plugins[1], "add_field") else {
        panic!("{plugins:?}")
    };
    assert_eq!(entries.len(), 1);
    assert!(matches!(&entries[0], (key, Value::Str(value)) if key == "k" && value == "v"));
}

// --- filebeat.yml --------------------------------------------------------------------------

fn filebeat_config() -> serde_yaml_ng::Value {
    let path = repo_root().join("filebeat/filebeat.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml_ng::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn yaml<'a>(value: &'a serde_yaml_ng::Value, key: &str) -> &'a serde_yaml_ng::Value {
    value
        .get(key)
        .unwrap_or_else(|| panic!("no {key:?} in {value:?}"))
}

#[test]
fn filebeat_yml_uses_our_templates_ids_and_schema_fields() {
    let config = filebeat_config();
    // Our templates and ILM, never Filebeat's.
    assert_eq!(
        yaml(&config, "setup.template.enabled").as_bool(),
        Some(false)
    );
    assert_eq!(yaml(&config, "setup.ilm.enabled").as_bool(), Some(false));

    let inputs = yaml(&config, "filebeat.inputs").as_sequence().unwrap();
    let types: Vec<&str> = inputs
        .iter()
        .map(|input| yaml(input, "type").as_str().unwrap())
        .collect();
    assert_eq!(types, ["tcp", "filestream", "kafka"]);
    for input in inputs {
        let kind = yaml(input, "type").as_str().unwrap();
        // Every input decodes the JSON record to the root with event.id as @metadata._id.
        let decoders: Vec<&serde_yaml_ng::Value> = if kind == "filestream" {
            yaml(input, "parsers")
                .as_sequence()
                .unwrap()
                .iter()
                .filter_map(|parser| parser.get("ndjson"))
                .collect()
        } else {
            yaml(input, "processors")
                .as_sequence()
                .unwrap()
                .iter()
                .filter_map(|processor| processor.get("decode_json_fields"))
                .collect()
        };
        assert_eq!(decoders.len(), 1, "{kind}");
        let decoder = decoders[0];
        assert_eq!(
            yaml(decoder, "document_id").as_str(),
            Some("event.id"),
            "{kind}"
        );
        assert_eq!(yaml(decoder, "target").as_str(), Some(""), "{kind}");
        assert!(in_schema("event.id"));
        assert!(yaml(input, "id")
            .as_str()
            .unwrap()
            .starts_with("netsensor-"));
    }
    let kafka = &inputs[2];
    let topics: Vec<&str> = yaml(kafka, "topics")
        .as_sequence()
        .unwrap()
        .iter()
        .map(|topic| topic.as_str().unwrap())
        .collect();
    assert_eq!(
        topics,
        ["netsensor-packet", "netsensor-flow", "netsensor-rollup"]
    );

    // Dropped fields are Beats' transport metadata, not part of any record.
    let processors = yaml(&config, "processors").as_sequence().unwrap();
    let dropped = yaml(yaml(&processors[0], "drop_fields"), "fields")
        .as_sequence()
        .unwrap();
    for field in dropped {
        let field = field.as_str().unwrap();
        assert!(!in_schema(field), "drops schema field {field}");
    }

    // The index is the record's own data stream; its field exists in the schema.
    let output = yaml(&config, "output.elasticsearch");
    let index = yaml(output, "index").as_str().unwrap();
    assert!(index.starts_with("logs-%{[event.dataset]}-"), "{index}");
    assert!(schema_fields().contains("event.dataset"));
}
