//! The Filebeat path: the shipped `filebeat/filebeat.yml` and `logstash/` pipelines are
//! checked structurally (Filebeat and Logstash are not obtainable here: docs/filebeat.md),
//! and the sensor's Filebeat output is tested against real TCP listeners and a file reader
//! of the test's own that check the NDJSON framing.

mod common;

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
        // Every input lifts the JSON record to the event's root.
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
        assert_eq!(yaml(decoder, "target").as_str(), Some(""), "{kind}");
        // Their document_id option would remove event.id from the record.
        assert!(decoder.get("document_id").is_none(), "{kind}");
        assert!(yaml(input, "id")
            .as_str()
            .unwrap()
            .starts_with("netsensor-"));
    }
    let kafka = &inputs[2];
    let topics: Vec<String> = yaml(kafka, "topics")
        .as_sequence()
        .unwrap()
        .iter()
        .map(|topic| {
            topic
                .as_str()
                .unwrap()
                .replace("${NETSENSOR_KAFKA_TOPIC_PREFIX:netsensor}", "netsensor")
        })
        .collect();
    assert_eq!(
        topics,
        ["netsensor-packet", "netsensor-flow", "netsensor-rollup"]
    );

    // event.id becomes @metadata._id (the real run below checks it happens).
    let processors = yaml(&config, "processors").as_sequence().unwrap();
    let script = yaml(yaml(&processors[0], "script"), "source")
        .as_str()
        .unwrap();
    assert!(script.contains("event.Get(\"event.id\")"), "{script}");
    assert!(script.contains("event.Put(\"@metadata._id\""), "{script}");
    assert!(in_schema("event.id"));

    // Dropped fields are Beats' transport metadata, not part of any record.
    let dropped = yaml(yaml(&processors[1], "drop_fields"), "fields")
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

// --- the sensor's Filebeat output into a real Filebeat --------------------------------------
//
// Filebeat 7.17 built from the Go module proxy (filebeat/build.sh) runs with the shipped
// filebeat/filebeat.yml. Its Elasticsearch output cannot be used here: it starts with
// `GET /`, which the dev stack's Elasticsearch distribution does not serve (405), and it
// refuses OpenSearch. So the tests replace the output with Filebeat's file output, which
// writes each event as Filebeat would send it, `@metadata._id` included.

mod real {
    use super::*;
    use std::collections::HashMap;
    use std::net::TcpListener;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use netsensor::outputs::elasticsearch::Mode;
    use netsensor::outputs::filebeat::{
        FilebeatFilesOutput, FilebeatTcpOutput, FilesSettings, TcpSettings, NAME,
    };
    use netsensor::outputs::Output;
    use netsensor::telemetry::{Health, Metrics};
    use netsensor_schema::RecordKind;
    use serde_json::Value;

    use super::common;

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// A Filebeat process with the repository's filebeat.yml, one input enabled, and the
    /// file output into `dir/out`.
    struct Filebeat {
        child: Child,
        dir: PathBuf,
    }

    impl Filebeat {
        fn start(dir: &Path, env: &[(&str, String)]) -> Filebeat {
            Filebeat::spawn(dir, env, true)
        }

        /// With `file_output` false, Filebeat keeps the shipped output.elasticsearch.
        fn spawn(dir: &Path, env: &[(&str, String)], file_output: bool) -> Filebeat {
            let binary = netsensor_testkit::filebeat::binary();
            std::fs::create_dir_all(dir.join("out")).unwrap();
            let mut command = Command::new(binary);
            command
                .args(["-e", "--strict.perms=false", "-c"])
                .arg(repo_root().join("filebeat/filebeat.yml"))
                .env("NETSENSOR_FILEBEAT_TCP_ENABLED", "false")
                .env("NETSENSOR_FILEBEAT_FILES_ENABLED", "false")
                .env("NETSENSOR_FILEBEAT_DATA", dir.join("data"))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join("filebeat.log")).unwrap());
            if file_output {
                command
                    .args([
                        "-E",
                        &format!("output.file.path={}", dir.join("out").display()),
                    ])
                    .args(["-E", "output.file.filename=events"])
                    .args(["-E", "output.file.rotate_every_kb=1000000"])
                    .env("NETSENSOR_FILEBEAT_ES_ENABLED", "false");
            }
            for (key, value) in env {
                command.env(key, value);
            }
            let child = command.spawn().unwrap();
            Filebeat {
                child,
                dir: dir.to_path_buf(),
            }
        }

        fn wait_listening(&mut self, port: u16) {
            let deadline = Instant::now() + Duration::from_secs(30);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!("filebeat exited ({status}): {}", self.log());
                }
                assert!(
                    Instant::now() < deadline,
                    "filebeat not listening: {}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }

        fn log(&self) -> String {
            std::fs::read_to_string(self.dir.join("filebeat.log")).unwrap_or_default()
        }

        /// SIGTERM (Filebeat waits `filebeat.shutdown_timeout` for its output), then wait.
        fn stop(mut self) {
            let pid = self.child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while self.child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = self.child.kill();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    impl Drop for Filebeat {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Events in Filebeat's output files (every rotation), parsed.
    fn events(dir: &Path) -> Vec<Value> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(dir.join("out")) else {
            return out;
        };
        for entry in entries {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in text.lines().filter(|l| !l.is_empty()) {
                out.push(serde_json::from_str(line).unwrap());
            }
        }
        out
    }

    /// Waits until every id in `want` is in Filebeat's output and then a little longer.
    fn wait_for(dir: &Path, want: &BTreeMap<String, Value>) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let events = events(dir);
            let seen: BTreeSet<&str> = events
                .iter()
                .filter_map(|e| e["event"]["id"].as_str())
                .collect();
            if want.keys().all(|id| seen.contains(id.as_str())) || Instant::now() > deadline {
                std::thread::sleep(Duration::from_millis(500));
                return self::events(dir);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    use std::collections::BTreeMap;

    /// The fixture records, as the file output writes them, in order.
    fn fixture_records(dir: &Path) -> Vec<(RecordKind, Vec<u8>)> {
        let config = dir.join("replay.yaml");
        std::fs::write(
            &config,
            format!(
                "sensor: {{ name: fbtest, data_directory: {} }}\n\
                 records: [packet, flow]\n\
                 listeners: {{ metrics: null, query: null }}\n",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let files: Vec<_> = common::fixtures()
            .into_iter()
            .filter(|f| common::file_name(f).starts_with("mixed"))
            .collect();
        let out = common::netsensor()
            .args(["replay", "--no-progress", "--config"])
            .arg(&config)
            .args(["--out", "-"])
            .args(&files)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|line| {
                let value: Value = serde_json::from_slice(line).unwrap();
                let kind = if value["event"]["dataset"] == "netsensor.packet" {
                    RecordKind::Packet
                } else {
                    RecordKind::Flow
                };
                (kind, line.to_vec())
            })
            .collect()
    }

    fn by_id(records: &[(RecordKind, Vec<u8>)]) -> BTreeMap<String, Value> {
        records
            .iter()
            .map(|(_, r)| {
                let value: Value = serde_json::from_slice(r).unwrap();
                (value["event"]["id"].as_str().unwrap().to_owned(), value)
            })
            .collect()
    }

    fn write(output: &mut dyn Output, records: &[(RecordKind, Vec<u8>)]) {
        for chunk in records.chunks(50) {
            for kind in [RecordKind::Packet, RecordKind::Flow] {
                let mut batch = Vec::new();
                for (_, record) in chunk.iter().filter(|(k, _)| *k == kind) {
                    batch.extend_from_slice(record);
                    batch.push(b'\n');
                }
                output.write_batch(kind, &batch).unwrap();
            }
        }
    }

    /// Every record arrived (as written, but @timestamp at Filebeat's millisecond
    /// precision), with event.id as @metadata._id and no Beats transport fields. Returns
    /// the number of duplicates (which event.id deduplicates in Elasticsearch).
    fn check(want: &BTreeMap<String, Value>, events: &[Value]) -> usize {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for event in events {
            let id = event["event"]["id"].as_str().expect("event.id kept");
            assert_eq!(event["@metadata"]["_id"], id, "document id");
            *seen.entry(id).or_default() += 1;
            let mut record = event.clone();
            let object = record.as_object_mut().unwrap();
            object.remove("@metadata");
            for field in ["agent", "ecs", "host", "input", "log", "message", "error"] {
                assert!(!object.contains_key(field), "{field} in {event}");
            }
            let original = want.get(id).unwrap_or_else(|| panic!("unknown {id}"));
            let timestamp = object.remove("@timestamp").unwrap();
            let mut expected = original.clone();
            let want_ts = expected
                .as_object_mut()
                .unwrap()
                .remove("@timestamp")
                .unwrap();
            // Filebeat keeps milliseconds: 2024-01-02T03:04:05.123456789Z -> .123Z
            let want_ts = want_ts.as_str().unwrap();
            let ms = format!("{}Z", &want_ts[..want_ts.find('.').map_or(19, |i| i + 4)]);
            assert_eq!(timestamp.as_str().unwrap(), ms, "{id}");
            assert_eq!(record, expected, "{id}");
        }
        let missing: Vec<&String> = want
            .keys()
            .filter(|id| !seen.contains_key(id.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "{} of {} missing: {:?}",
            missing.len(),
            want.len(),
            &missing[..missing.len().min(5)]
        );
        seen.values().map(|n| n - 1).sum()
    }

    #[test]
    fn sensor_tcp_to_filebeat_every_record_once_filebeat() {
        let dir = tempfile::tempdir().unwrap();
        let records = fixture_records(dir.path());
        let want = by_id(&records);
        let port = free_port();
        let fb_dir = dir.path().join("filebeat");
        let mut filebeat = Filebeat::start(
            &fb_dir,
            &[
                ("NETSENSOR_FILEBEAT_TCP_ENABLED", "true".into()),
                ("NETSENSOR_FILEBEAT_TCP", format!("127.0.0.1:{port}")),
            ],
        );
        filebeat.wait_listening(port);
        let metrics = Metrics::with_build("t", 0);
        let health = Health::new(&metrics);
        let mut settings = TcpSettings::new(format!("127.0.0.1:{port}"), dir.path().join("spool"));
        settings.mode = Mode::Replay;
        let mut output = FilebeatTcpOutput::start(settings, &metrics, &health).unwrap();
        write(&mut output, &records);
        assert_eq!(output.close().unwrap(), 0);
        let events = wait_for(&fb_dir, &want);
        let duplicates = check(&want, &events);
        assert_eq!(duplicates, 0, "no reconnect, no duplicate");
        assert_eq!(
            metrics.delivery(NAME).records.sent.get(),
            records.len() as u64
        );
        filebeat.stop();
    }

    #[test]
    fn filebeat_down_for_a_while_loses_nothing_filebeat() {
        let dir = tempfile::tempdir().unwrap();
        let records = fixture_records(dir.path());
        let want = by_id(&records);
        let port = free_port();
        let fb_dir = dir.path().join("filebeat");
        let env = [
            ("NETSENSOR_FILEBEAT_TCP_ENABLED", "true".to_owned()),
            ("NETSENSOR_FILEBEAT_TCP", format!("127.0.0.1:{port}")),
        ];
        let mut filebeat = Filebeat::start(&fb_dir, &env);
        filebeat.wait_listening(port);
        let metrics = Metrics::with_build("t", 0);
        let health = Health::new(&metrics);
        let mut settings = TcpSettings::new(format!("127.0.0.1:{port}"), dir.path().join("spool"));
        settings.mode = Mode::Live;
        settings.memory_queue_bytes = 64 << 10;
        settings.max_backoff = Duration::from_millis(500);
        let mut output = FilebeatTcpOutput::start(settings, &metrics, &health).unwrap();
        let third = records.len() / 3;
        write(&mut output, &records[..third]);
        std::thread::sleep(Duration::from_secs(1));
        filebeat.stop();
        // Filebeat is down: the queue fills, the rest goes to the spool.
        write(&mut output, &records[third..2 * third]);
        std::thread::sleep(Duration::from_secs(2));
        let m = metrics.delivery(NAME);
        assert!(
            m.spooled.get() > 0,
            "nothing spooled while Filebeat was down"
        );
        assert_eq!(m.records.up.get(), 0);
        let mut filebeat = Filebeat::start(&fb_dir, &env);
        filebeat.wait_listening(port);
        write(&mut output, &records[2 * third..]);
        let deadline = Instant::now() + Duration::from_secs(60);
        while m.spool_bytes.get() > 0 || m.queue_bytes.get() > 0 {
            assert!(Instant::now() < deadline, "the spool was not sent");
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(output.close().unwrap(), 0);
        let events = wait_for(&fb_dir, &want);
        let duplicates = check(&want, &events);
        eprintln!(
            "{} records; spooled {}, resent {}, duplicates {duplicates} (event.id dedupes them)",
            records.len(),
            m.spooled.get(),
            m.retries.get()
        );
        assert_eq!(m.records.up.get(), 1);
        filebeat.stop();
    }

    #[test]
    fn sensor_files_to_filebeat_filestream_filebeat() {
        let dir = tempfile::tempdir().unwrap();
        let records = fixture_records(dir.path());
        let want = by_id(&records);
        let files_dir = dir.path().join("ndjson");
        std::fs::create_dir_all(&files_dir).unwrap();
        let fb_dir = dir.path().join("filebeat");
        let filebeat = Filebeat::start(
            &fb_dir,
            &[
                ("NETSENSOR_FILEBEAT_FILES_ENABLED", "true".into()),
                ("NETSENSOR_FILEBEAT_DIR", files_dir.display().to_string()),
            ],
        );
        let mut output = FilebeatFilesOutput::open(FilesSettings {
            dir: files_dir.clone(),
            prefix: "netsensor".into(),
            rotate_bytes: 256 << 10,
            rotate_age: Duration::from_secs(3600),
        })
        .unwrap();
        // Written while Filebeat scans the directory: it must never see half a line.
        for chunk in records.chunks(records.len() / 4 + 1) {
            write(&mut output, chunk);
            std::thread::sleep(Duration::from_millis(700));
        }
        assert_eq!(output.close().unwrap(), 0);
        let published = FilebeatFilesOutput::completed(&files_dir).unwrap();
        assert!(published.len() > 3, "{published:?}");
        let events = wait_for(&fb_dir, &want);
        assert_eq!(check(&want, &events), 0);
        let log = filebeat.log();
        assert!(!log.contains("Error decoding JSON"), "{log}");
        filebeat.stop();
    }

    /// Kafka → Filebeat's kafka input (the shipped filebeat.yml, sarama speaking protocol
    /// 2.6 to Kafka 4): every record once, event.id as the document id.
    #[test]
    fn kafka_to_filebeat_kafka_input_every_record_once_filebeat() {
        use netsensor::outputs::kafka::{KafkaOutput, KafkaSettings};
        use netsensor_testkit::stack::{self, Engine};
        let service = stack::ensure(Engine::Kafka);
        let dir = tempfile::tempdir().unwrap();
        let records = fixture_records(dir.path());
        let want = by_id(&records);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let prefix = format!("fbkafka-{}-{nanos}", std::process::id());
        let metrics = Metrics::with_build("t", 0);
        let health = Health::new(&metrics);
        let mut settings = KafkaSettings::new(service.url.clone(), dir.path().join("spool"));
        settings.topics = [
            format!("{prefix}-packet"),
            format!("{prefix}-flow"),
            format!("{prefix}-rollup"),
        ];
        settings.mode = Mode::Replay;
        let mut output = KafkaOutput::start(settings, &metrics, &health).unwrap();
        write(&mut output, &records);
        assert_eq!(output.close().unwrap(), 0);
        drop(output);
        let fb_dir = dir.path().join("filebeat");
        let filebeat = Filebeat::start(
            &fb_dir,
            &[
                ("NETSENSOR_FILEBEAT_KAFKA_ENABLED", "true".into()),
                ("NETSENSOR_KAFKA_BOOTSTRAP", service.url.clone()),
                ("NETSENSOR_KAFKA_TOPIC_PREFIX", prefix.clone()),
                ("NETSENSOR_FILEBEAT_KAFKA_GROUP", format!("{prefix}-group")),
            ],
        );
        let events = wait_for(&fb_dir, &want);
        let log = filebeat.log();
        let duplicates = check(&want, &events);
        assert_eq!(duplicates, 0, "{log}");
        filebeat.stop();
    }

    /// Filebeat's Elasticsearch output against OpenSearch: refused at connection time.
    #[test]
    fn filebeat_refuses_opensearch_opensearch() {
        use netsensor_testkit::stack::{self, Engine};
        let service = stack::ensure(Engine::OpenSearch);
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let fb_dir = dir.path().join("filebeat");
        let mut filebeat = Filebeat::spawn(
            &fb_dir,
            &[
                ("NETSENSOR_FILEBEAT_TCP_ENABLED", "true".into()),
                ("NETSENSOR_FILEBEAT_TCP", format!("127.0.0.1:{port}")),
                ("NETSENSOR_ES_URL", service.url.clone()),
            ],
            false,
        );
        filebeat.wait_listening(port);
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        std::io::Write::write_all(
            &mut stream,
            b"{\"event\":{\"id\":\"x1\",\"dataset\":\"netsensor.flow\"}}\n",
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !filebeat
            .log()
            .contains("could not connect to a compatible version")
        {
            assert!(Instant::now() < deadline, "{}", filebeat.log());
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(filebeat.log().contains("_license"), "{}", filebeat.log());
        filebeat.stop();
    }
}
