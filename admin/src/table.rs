//! Aligned plain-text tables: text columns left, number-like columns right.

/// A table being built.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are blank).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as lines, two spaces between columns, no trailing blanks.
    pub fn render(&self) -> String {
        let columns = self.header.len();
        let cell = |row: &Vec<String>, c: usize| row.get(c).cloned().unwrap_or_default();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        let mut numeric = vec![true; columns];
        for row in &self.rows {
            for (c, width) in widths.iter_mut().enumerate() {
                let text = cell(row, c);
                *width = (*width).max(text.chars().count());
                if !text.is_empty() && !looks_numeric(&text) {
                    numeric[c] = false;
                }
            }
        }
        let mut out = String::new();
        let mut line = |cells: Vec<String>| {
            let mut text = String::new();
            for (c, value) in cells.iter().enumerate() {
                let pad = widths[c].saturating_sub(value.chars().count());
                if c > 0 {
                    text.push_str("  ");
                }
                if numeric[c] && c > 0 {
                    text.push_str(&" ".repeat(pad));
                    text.push_str(value);
                } else {
                    text.push_str(value);
                    text.push_str(&" ".repeat(pad));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(self.header.clone());
        for row in &self.rows {
            line((0..columns).map(|c| cell(row, c)).collect());
        }
        out
    }
}

fn looks_numeric(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_digit()) && !text.contains(['-', ':', 'T'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align() {
        let mut t = Table::new(&["NAME", "DOCS"]);
        t.row(vec!["a".into(), "5".into()]);
        t.row(vec!["longer".into(), "1234".into()]);
        assert_eq!(t.render(), "NAME    DOCS\na          5\nlonger  1234\n");
    }
}
