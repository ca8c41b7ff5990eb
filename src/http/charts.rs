//! Server-rendered SVG charts for the dashboard: no client-side code. Pure functions from data to
//! markup; every label is escaped, since account and author ids come from users.

use std::fmt::Write;

use crate::stats::Day;

const PALETTE: &[&str] = &["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];
const NONE_COLOR: &str = "#9ca3af";

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A stable color per category: pack order, gray for `none`.
pub fn color(categories: &[String], category: &str) -> &'static str {
    if category == "none" {
        return NONE_COLOR;
    }
    categories.iter().position(|c| c == category).map(|i| PALETTE[i % PALETTE.len()]).unwrap_or(NONE_COLOR)
}

/// A round axis step (1, 2 or 5 times a power of ten) giving about four intervals up to `v`.
fn nice_step(v: i64) -> i64 {
    let raw = (v.max(1) as f64 / 4.0).max(1.0);
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    step as i64
}

/// Where a chart's mark leads: the list of the cases behind it.
pub type Link<'a> = &'a dyn Fn(&str, &str) -> Option<String>;

/// `inner` inside a link to `href`, if any. SVG `<a>` takes `href` as HTML does.
fn linked(href: Option<String>, inner: String) -> String {
    match href {
        Some(h) => format!(r#"<a href="{}">{inner}</a>"#, escape(&h)),
        None => inner,
    }
}

/// Cases per day, stacked by category, with axes and a legend. `link(day, category)` makes each
/// segment a link.
pub fn stacked_bars(title: &str, days: &[Day], categories: &[String], link: Link<'_>) -> String {
    let (w, h, left, right, top, bottom) = (900.0, 340.0, 50.0, 20.0, 40.0, 90.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let step = nice_step(days.iter().map(|d| d.cases).max().unwrap_or(0));
    let top_value = days.iter().map(|d| d.cases).max().unwrap_or(0).max(1);
    let max = step * ((top_value + step - 1) / step);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-label="{t}" class="chart"><title>{t}</title>"#,
        t = escape(title)
    );
    let _ = write!(svg, r#"<text x="{left}" y="22" class="chart-title">{}</text>"#, escape(title));
    for i in 0..=(max / step) {
        let v = step * i;
        let y = top + plot_h - plot_h * (v as f64) / (max as f64);
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e7eb"/><text x="{}" y="{:.1}" text-anchor="end" class="tick">{v}</text>"##,
            w - right,
            left - 6.0,
            y + 4.0
        );
    }
    if days.iter().all(|d| d.cases == 0) {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle" class="empty">No cases in this period</text>"#,
            left + plot_w / 2.0,
            top + plot_h / 2.0
        );
    }
    let slot = plot_w / days.len().max(1) as f64;
    let bar = (slot * 0.7).clamp(1.0, 48.0);
    let label_every = (days.len() / 15).max(1);
    for (i, d) in days.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = top + plot_h;
        for cat in categories.iter().map(String::as_str).chain(std::iter::once("none")) {
            let n = d.by_category.get(cat).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let bh = plot_h * n as f64 / max as f64;
            y -= bh;
            let rect = format!(
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{bh:.1}" fill="{}"><title>{} {}: {n}</title></rect>"#,
                color(categories, cat),
                escape(&d.day),
                escape(cat)
            );
            svg.push_str(&linked(link(&d.day, cat), rect));
        }
        if i % label_every == 0 {
            let lx = x + bar / 2.0;
            let ly = top + plot_h + 14.0;
            let _ = write!(
                svg,
                r#"<text x="{lx:.1}" y="{ly:.1}" text-anchor="end" transform="rotate(-45 {lx:.1} {ly:.1})" class="tick">{}</text>"#,
                escape(d.day.get(5..).unwrap_or(&d.day))
            );
        }
    }
    let _ = write!(svg, r##"<line x1="{left}" x2="{}" y1="{}" y2="{}" stroke="#374151"/>"##, w - right, top + plot_h, top + plot_h);
    // The legend wraps onto a second line rather than running off the right edge.
    let (mut lx, mut ly) = (left, h - 34.0);
    for cat in categories.iter().map(String::as_str).chain(std::iter::once("none")) {
        let width = 24.0 + 7.0 * cat.len() as f64;
        if lx + width > w - right {
            lx = left;
            ly += 20.0;
        }
        let _ = write!(
            svg,
            r#"<rect x="{lx:.1}" y="{}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{ly}" class="legend">{}</text>"#,
            ly - 10.0,
            color(categories, cat),
            lx + 16.0,
            escape(cat)
        );
        lx += width;
    }
    svg.push_str("</svg>");
    svg
}

/// One labelled horizontal bar per row: (label, value 0..=max, text shown at the bar's end,
/// color); `link(label, "")` makes a row a link.
pub fn hbars(title: &str, rows: &[(String, f64, String, &str)], max: f64, link: Link<'_>) -> String {
    let (w, row_h, left, top) = (900.0, 28.0, 230.0, 40.0);
    let h = top + row_h * rows.len().max(1) as f64 + 12.0;
    let plot_w = w - left - 110.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-label="{t}" class="chart"><title>{t}</title>"#,
        t = escape(title)
    );
    let _ = write!(svg, r#"<text x="10" y="22" class="chart-title">{}</text>"#, escape(title));
    if rows.is_empty() {
        let _ = write!(svg, r#"<text x="{}" y="{}" class="empty">No data in this period</text>"#, left, top + 16.0);
    }
    for (i, (label, value, text, fill)) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let bw = if max > 0.0 { plot_w * (value / max).clamp(0.0, 1.0) } else { 0.0 };
        let row = format!(
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" class="label">{}</text><rect x="{left}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{fill}" rx="2"/><text x="{:.1}" y="{:.1}" class="value">{}</text>"#,
            left - 8.0,
            y + 17.0,
            escape(label),
            y + 4.0,
            row_h - 8.0,
            left + bw + 6.0,
            y + 17.0,
            escape(text)
        );
        svg.push_str(&linked(link(label, ""), row));
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn labels_are_escaped_so_user_ids_cannot_inject_markup() {
        let svg = hbars("Top", &[("<script>alert(1)</script>".into(), 1.0, "1".into(), "#000")], 1.0, &|_, _| None);
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"));
    }

    #[test]
    fn stacked_bars_draw_one_rect_per_nonzero_category_and_label_the_legend() {
        let cats = vec!["a".to_string(), "b".to_string()];
        let day = Day { day: "2026-11-28".into(), cases: 3, by_category: BTreeMap::from([("a".into(), 2), ("none".into(), 1)]) };
        let svg = stacked_bars("Cases per day", &[day], &cats, &|d, c| Some(format!("/cases?day={d}&category={c}")));
        assert!(svg.contains(r#"<a href="/cases?day=2026-11-28&amp;category=a">"#), "segments link to their cases");
        assert_eq!(svg.matches("<rect x=").count(), 2 + 3, "two bar segments and three legend swatches");
        assert!(svg.contains(">11-28<") && svg.contains(">b<") && svg.contains("Cases per day"));
    }
}
