//! Column alignment as Go's `text/tabwriter` does it with docker's settings
//! (minwidth 10, tabwidth 1, padding 3, pad char ' ', no flags), so tables line up
//! byte for byte with docker's: cells end at `\t`, the last cell of a line is not
//! aligned, and widths are computed per block of consecutive lines sharing a column.

/// Docker's tabwriter minimum cell width.
pub const MIN_WIDTH: usize = 10;
/// Docker's tabwriter padding.
pub const PADDING: usize = 3;

/// Aligns `text` (lines with tab-terminated cells) and returns the result.
pub fn align(text: &str) -> String {
    align_with(text, MIN_WIDTH, PADDING)
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// Aligns with explicit settings (docker uses other values for a few commands).
pub fn align_with(text: &str, minwidth: usize, padding: usize) -> String {
    let trailing_nl = text.ends_with('\n');
    let body = text.strip_suffix('\n').unwrap_or(text);
    let lines: Vec<Vec<&str>> = if text.is_empty() {
        vec![]
    } else {
        body.split('\n').map(|l| l.split('\t').collect()).collect()
    };
    let mut out = String::new();
    let mut widths = Vec::new();
    format(
        &lines,
        0,
        lines.len(),
        &mut widths,
        minwidth,
        padding,
        &mut out,
    );
    if !trailing_nl && out.ends_with('\n') {
        out.pop();
    }
    out
}

fn format(
    lines: &[Vec<&str>],
    mut line0: usize,
    line1: usize,
    widths: &mut Vec<usize>,
    minwidth: usize,
    padding: usize,
    out: &mut String,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut w = minwidth;
        while this < line1 && column + 1 < lines[this].len() {
            w = w.max(width(lines[this][column]) + padding);
            this += 1;
        }
        widths.push(w);
        format(lines, line0, this, widths, minwidth, padding, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, line1, widths, out);
}

fn write_lines(lines: &[Vec<&str>], from: usize, to: usize, widths: &[usize], out: &mut String) {
    for line in &lines[from..to] {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j < widths.len() && j + 1 < line.len() {
                out.push_str(&" ".repeat(widths[j].saturating_sub(width(cell))));
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_ps_header() {
        let t = "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES\n";
        assert_eq!(
            align(t),
            "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"
        );
    }

    #[test]
    fn widths_follow_longest_cell() {
        let t = "A\tB\tC\nlong-cell-value\tx\ty\n";
        assert_eq!(
            align(t),
            "A                 B         C\nlong-cell-value   x         y\n"
        );
    }

    #[test]
    fn blocks_and_unicode() {
        // A line without tabs ends the column block.
        let t = "a\tb\nplain\nlonger-than-ten\tc\n";
        assert_eq!(align(t), "a         b\nplain\nlonger-than-ten   c\n");
        assert_eq!(align("\"sh -c 'ech…\"\tx\n"), "\"sh -c 'ech…\"   x\n");
        assert_eq!(align(""), "");
    }
}
