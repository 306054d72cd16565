//! A hand-written SVG bar chart of the end-to-end results
//! (`target/bench/report.svg`): one panel per scenario, each with its own
//! scale, one bar per server with its value on top; brisk's bars stand out.

use std::fmt::Write as _;

/// One panel: a title, a unit, and one value per server (`None` = no bar).
pub(crate) struct Panel {
    pub(crate) title: String,
    /// Shown under the title, e.g. `requests/s (higher is better)`.
    pub(crate) unit: String,
    pub(crate) values: Vec<Option<f64>>,
    /// How a value is written above its bar.
    pub(crate) format: fn(f64) -> String,
}

const PANEL_W: f64 = 250.0;
const PLOT_H: f64 = 220.0;
/// Room above the top of the scale for the tallest bar's value.
const HEADROOM: f64 = 16.0;
const TOP: f64 = 80.0;
const LEFT: f64 = 20.0;
const BOTTOM: f64 = 90.0;
/// brisk first, then one colour per peer.
const COLOURS: [&str; 8] = [
    "#d9480f", "#1c7ed6", "#37b24d", "#7048e8", "#f59f00", "#0ca678", "#868e96", "#e64980",
];

/// The chart as an SVG document: `servers` name the bars of every panel.
pub(crate) fn chart(title: &str, subtitle: &str, servers: &[String], panels: &[Panel]) -> String {
    let width = LEFT * 2.0 + PANEL_W * panels.len().max(1) as f64;
    let height = TOP + PLOT_H + BOTTOM;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="{width}" height="{height}" fill="white"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="24" font-size="16" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        svg,
        r##"<text x="{LEFT}" y="42" font-size="11" fill="#495057">{}</text>"##,
        escape(subtitle)
    );
    for (p, panel) in panels.iter().enumerate() {
        let x0 = LEFT + PANEL_W * p as f64;
        draw_panel(&mut svg, x0, servers, panel);
    }
    svg.push_str("</svg>\n");
    svg
}

fn draw_panel(svg: &mut String, x0: f64, servers: &[String], panel: &Panel) {
    let max = panel
        .values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let (step, top) = nice_scale(max);
    let base = TOP + PLOT_H;
    let plot_x = x0 + 10.0;
    let plot_w = PANEL_W - 30.0;
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" font-size="12" font-weight="bold" text-anchor="middle">{}</text>"#,
        plot_x + plot_w / 2.0,
        TOP - 22.0,
        escape(&panel.title)
    );
    let _ = writeln!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#495057" text-anchor="middle">{}</text>"##,
        plot_x + plot_w / 2.0,
        TOP - 8.0,
        escape(&panel.unit)
    );
    // Grid lines (no numbers: each bar carries its value).
    if step > 0.0 {
        let mut v = step;
        while v <= top + step / 2.0 {
            let y = base - v / top * (PLOT_H - HEADROOM);
            let _ = writeln!(
                svg,
                r##"<line x1="{plot_x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e9ecef"/>"##,
                plot_x + plot_w
            );
            v += step;
        }
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{plot_x:.1}" y1="{base:.1}" x2="{:.1}" y2="{base:.1}" stroke="#343a40"/>"##,
        plot_x + plot_w
    );
    let n = servers.len().max(1) as f64;
    let slot = plot_w / n;
    let bar = (slot * 0.7).min(28.0);
    for (i, name) in servers.iter().enumerate() {
        let cx = plot_x + slot * (i as f64 + 0.5);
        let colour = COLOURS[i % COLOURS.len()];
        match panel.values.get(i).copied().flatten() {
            Some(v) if v.is_finite() && top > 0.0 => {
                let h = (v.max(0.0) / top * (PLOT_H - HEADROOM)).max(0.5);
                let _ = writeln!(
                    svg,
                    r#"<rect x="{:.1}" y="{:.1}" width="{bar:.1}" height="{h:.1}" fill="{colour}"><title>{}: {}</title></rect>"#,
                    cx - bar / 2.0,
                    base - h,
                    escape(name),
                    escape(&(panel.format)(v))
                );
                let _ = writeln!(
                    svg,
                    r#"<text x="{cx:.1}" y="{:.1}" font-size="9" text-anchor="middle">{}</text>"#,
                    base - h - 3.0,
                    escape(&(panel.format)(v))
                );
            }
            _ => {
                let _ = writeln!(
                    svg,
                    r##"<text x="{cx:.1}" y="{:.1}" font-size="9" fill="#868e96" text-anchor="middle">n/a</text>"##,
                    base - 3.0
                );
            }
        }
        let weight = if i == 0 { "bold" } else { "normal" };
        let _ = writeln!(
            svg,
            r#"<text x="{cx:.1}" y="{:.1}" font-size="11" font-weight="{weight}" text-anchor="end" transform="rotate(-45 {cx:.1} {:.1})">{}</text>"#,
            base + 14.0,
            base + 14.0,
            escape(name)
        );
    }
}

/// A grid step of 1, 2 or 5 times a power of ten giving about 4 lines, and
/// the top of the scale (a whole number of steps at or above `max`).
fn nice_scale(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (0.0, 1.0);
    }
    let rough = max / 4.0;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * power);
    (step, (max / step).ceil() * step)
}

/// `12345` as `12.3k`, `1234567` as `1.23M`.
pub(crate) fn short_count(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_round() {
        assert_eq!(nice_scale(0.0), (0.0, 1.0));
        assert_eq!(nice_scale(95.0), (50.0, 100.0));
        assert_eq!(nice_scale(310_000.0), (100_000.0, 400_000.0));
        assert_eq!(nice_scale(7.0), (2.0, 8.0));
    }

    #[test]
    fn counts_are_short() {
        assert_eq!(short_count(950.0), "950");
        assert_eq!(short_count(1234.0), "1.2k");
        assert_eq!(short_count(61_234.0), "61k");
        assert_eq!(short_count(1_234_567.0), "1.23M");
    }

    #[test]
    fn chart_has_a_bar_per_value_and_escapes_text() {
        let servers = vec!["brisk".to_owned(), "a<b".to_owned()];
        let panels = vec![
            Panel {
                title: "plain".to_owned(),
                unit: "req/s".to_owned(),
                values: vec![Some(100.0), None],
                format: short_count,
            },
            Panel {
                title: "idle & co".to_owned(),
                unit: "bytes".to_owned(),
                values: vec![Some(5.0), Some(10.0)],
                format: short_count,
            },
        ];
        let svg = chart("t", "s", &servers, &panels);
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<rect x=").count(), 3);
        assert_eq!(svg.matches(">n/a<").count(), 1);
        assert!(svg.contains("a&lt;b") && svg.contains("idle &amp; co"));
        assert!(!svg.contains("a<b"));
    }
}
