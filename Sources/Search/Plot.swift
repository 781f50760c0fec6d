import Foundation

/// A self-contained SVG scatter plot of score against MACs: every evaluated candidate,
/// the Pareto front as a line, the MACs budget as a dashed vertical line, the best marked.
public enum SVGPlot {
    public static func render(candidates: [Candidate], front: [Candidate], best: Candidate?, maxMACs: Int?, title: String) -> String {
        let w = 720.0, h = 480.0, left = 70.0, right = 20.0, top = 40.0, bottom = 50.0
        let xs = candidates.map { Double($0.measured.macs) / 1e6 } + (maxMACs.map { [Double($0) / 1e6] } ?? [])
        let ys = candidates.map(\.score)
        guard let x0 = xs.min(), let x1 = xs.max(), let y0 = ys.min(), let y1 = ys.max() else {
            return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\"></svg>\n"
        }
        let xr = max(x1 - x0, 1e-9) * 1.05, yr = max(y1 - y0, 1e-9) * 1.1
        let xmin = x0 - (xr - (x1 - x0)) / 2, ymin = y0 - (yr - (y1 - y0)) / 2
        func px(_ x: Double) -> Double { left + (x - xmin) / xr * (w - left - right) }
        func py(_ y: Double) -> Double { h - bottom - (y - ymin) / yr * (h - top - bottom) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(f(w / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">\(escape(title))</text>\n"
        s += "<line x1=\"\(f(left))\" y1=\"\(f(h - bottom))\" x2=\"\(f(w - right))\" y2=\"\(f(h - bottom))\" stroke=\"black\"/>\n"
        s += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(h - bottom))\" stroke=\"black\"/>\n"
        for i in 0...4 {
            let xv = xmin + xr * Double(i) / 4, yv = ymin + yr * Double(i) / 4
            s += "<text x=\"\(f(px(xv)))\" y=\"\(f(h - bottom + 18))\" text-anchor=\"middle\">\(String(format: "%.2f", xv))</text>\n"
            s += "<text x=\"\(f(left - 6))\" y=\"\(f(py(yv) + 4))\" text-anchor=\"end\">\(String(format: "%.3f", yv))</text>\n"
        }
        s += "<text x=\"\(f(w / 2))\" y=\"\(f(h - 12))\" text-anchor=\"middle\">MACs (millions)</text>\n"
        s += "<text x=\"16\" y=\"\(f(h / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(f(h / 2)))\">score (validation accuracy)</text>\n"
        if let maxMACs {
            let x = px(Double(maxMACs) / 1e6)
            s += "<line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(h - bottom))\" stroke=\"red\" stroke-dasharray=\"6,4\"/>\n"
            s += "<text x=\"\(f(x - 4))\" y=\"\(f(top + 12))\" text-anchor=\"end\" fill=\"red\">budget</text>\n"
        }
        for c in candidates {
            s += "<circle cx=\"\(f(px(Double(c.measured.macs) / 1e6)))\" cy=\"\(f(py(c.score)))\" r=\"3\" fill=\"#888\" fill-opacity=\"0.6\"/>\n"
        }
        if front.count > 1 {
            let pts = front.map { "\(f(px(Double($0.measured.macs) / 1e6))),\(f(py($0.score)))" }.joined(separator: " ")
            s += "<polyline points=\"\(pts)\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/>\n"
        }
        for c in front {
            s += "<circle cx=\"\(f(px(Double(c.measured.macs) / 1e6)))\" cy=\"\(f(py(c.score)))\" r=\"4\" fill=\"#1f77b4\"/>\n"
        }
        if let b = best {
            s += "<circle cx=\"\(f(px(Double(b.measured.macs) / 1e6)))\" cy=\"\(f(py(b.score)))\" r=\"7\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\"/>\n"
        }
        return s + "</svg>\n"
    }

    static func escape(_ t: String) -> String {
        t.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
