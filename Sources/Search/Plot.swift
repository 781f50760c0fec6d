import Foundation

/// A self-contained SVG plot of a search: score against the cost the budget limits. One
/// panel per budgeted cost (MACs, latency; MACs when nothing is budgeted), each with every
/// evaluated candidate, the front of that panel's cost (best score at no more cost: a
/// staircase, never a zigzag), the budget as a dashed line and the best candidate ringed.
public enum SVGPlot {
    /// A cost axis of the plot.
    public enum Axis: Sendable {
        case macs, latency, peakMemory, flash

        func value(_ c: Candidate) -> Double? {
            switch self {
            case .macs: return Double(c.measured.macs)
            case .latency: return c.measured.latencyMs
            case .peakMemory: return c.measured.edge.map { Double($0.peakActivationBytes) }
            case .flash: return c.measured.edge.map { Double($0.flashBytes) }
            }
        }

        var label: String {
            switch self {
            case .macs: return "MACs per image"
            case .latency: return "predicted latency (ms)"
            case .peakMemory: return "int8 peak activation memory"
            case .flash: return "int8 model size (flash)"
            }
        }

        func format(_ v: Double) -> String {
            switch self {
            case .macs: return readableCount(v)
            case .latency: return String(format: "%.2f ms", v)
            case .peakMemory, .flash: return readableBytes(Int(v.rounded()))
            }
        }

        /// The budget's limit on this axis.
        func limit(_ b: Budget) -> Double? {
            switch self {
            case .macs: return b.maxMACs.map(Double.init)
            case .latency: return b.maxLatencyMs
            case .peakMemory: return b.maxPeakMemoryBytes.map(Double.init)
            case .flash: return b.maxFlashBytes.map(Double.init)
            }
        }
    }

    /// The axes a budget asks for: one per limited cost (latency, peak memory, flash),
    /// MACs when it limits MACs or none of those.
    public static func axes(for budget: Budget) -> [Axis] {
        var axes: [Axis] = []
        if budget.maxMACs != nil || (budget.maxLatencyMs == nil && !budget.limitsEdgeCost) { axes.append(.macs) }
        if budget.maxLatencyMs != nil { axes.append(.latency) }
        if budget.maxPeakMemoryBytes != nil { axes.append(.peakMemory) }
        if budget.maxFlashBytes != nil { axes.append(.flash) }
        return axes
    }

    public static func render(candidates: [Candidate], best: Candidate?, budget: Budget, title: String) -> String {
        let axes = axes(for: budget)
        let panelWidth = 720.0, h = 480.0
        let w = panelWidth * Double(axes.count)
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(f(w / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">\(escape(title))</text>\n"
        for (i, axis) in axes.enumerated() {
            let limit = axis.limit(budget)
            s += panel(axis, candidates: candidates, best: best, limit: limit, x: panelWidth * Double(i), width: panelWidth, height: h)
        }
        return s + "</svg>\n"
    }

    /// Candidates not beaten by another of no more cost and a higher score, cheapest first.
    public static func front(_ candidates: [Candidate], on axis: Axis) -> [Candidate] {
        let points = candidates.compactMap { c in axis.value(c).map { (c, $0) } }
            .sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0.score > $1.0.score }
        var out: [Candidate] = []
        var bestScore = -Double.infinity
        for (c, _) in points where c.score > bestScore {
            out.append(c)
            bestScore = c.score
        }
        return out
    }

    static func panel(_ axis: Axis, candidates: [Candidate], best: Candidate?, limit: Double?, x left0: Double, width: Double, height h: Double) -> String {
        let left = left0 + 80, right = left0 + width - 20, top = 40.0, bottom = h - 50
        let points = candidates.compactMap { c in axis.value(c).map { ($0, c.score) } }
        let xs = points.map(\.0) + (limit.map { [$0] } ?? [])
        let ys = points.map(\.1)
        guard let x0 = xs.min(), let x1 = xs.max(), let y0 = ys.min(), let y1 = ys.max() else {
            return "<text x=\"\(f(left0 + width / 2))\" y=\"\(f(h / 2))\" text-anchor=\"middle\">no candidate has a \(axis.label)</text>\n"
        }
        let xr = max(x1 - x0, 1e-9) * 1.05, yr = max(y1 - y0, 1e-9) * 1.1
        let xmin = x0 - (xr - (x1 - x0)) / 2, ymin = y0 - (yr - (y1 - y0)) / 2
        func px(_ v: Double) -> Double { left + (v - xmin) / xr * (right - left) }
        func py(_ v: Double) -> Double { bottom - (v - ymin) / yr * (bottom - top) }
        var s = "<line x1=\"\(f(left))\" y1=\"\(f(bottom))\" x2=\"\(f(right))\" y2=\"\(f(bottom))\" stroke=\"black\"/>\n"
        s += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(bottom))\" stroke=\"black\"/>\n"
        for i in 0...4 {
            let xv = xmin + xr * Double(i) / 4, yv = ymin + yr * Double(i) / 4
            s += "<text x=\"\(f(px(xv)))\" y=\"\(f(bottom + 18))\" text-anchor=\"middle\">\(axis.format(xv))</text>\n"
            s += "<text x=\"\(f(left - 6))\" y=\"\(f(py(yv) + 4))\" text-anchor=\"end\">\(String(format: "%.3f", yv))</text>\n"
        }
        s += "<text x=\"\(f((left + right) / 2))\" y=\"\(f(h - 12))\" text-anchor=\"middle\">\(axis.label)</text>\n"
        let mid = (top + bottom) / 2
        s += "<text x=\"\(f(left0 + 16))\" y=\"\(f(mid))\" text-anchor=\"middle\" transform=\"rotate(-90 \(f(left0 + 16)) \(f(mid)))\">score (validation accuracy)</text>\n"
        if let limit {
            let lx = px(limit)
            s += "<line x1=\"\(f(lx))\" y1=\"\(f(top))\" x2=\"\(f(lx))\" y2=\"\(f(bottom))\" stroke=\"red\" stroke-dasharray=\"6,4\"/>\n"
            s += "<text x=\"\(f(lx - 4))\" y=\"\(f(top + 12))\" text-anchor=\"end\" fill=\"red\">budget \(axis.format(limit))</text>\n"
        }
        for (v, score) in points {
            s += "<circle cx=\"\(f(px(v)))\" cy=\"\(f(py(score)))\" r=\"3\" fill=\"#888\" fill-opacity=\"0.6\"/>\n"
        }
        let frontPoints = front(candidates, on: axis).map { (axis.value($0)!, $0.score) }
        if frontPoints.count > 1 {
            // A staircase: the best score reachable at each cost.
            var pts: [String] = []
            for (i, p) in frontPoints.enumerated() {
                if i > 0 { pts.append("\(f(px(p.0))),\(f(py(frontPoints[i - 1].1)))") }
                pts.append("\(f(px(p.0))),\(f(py(p.1)))")
            }
            s += "<polyline points=\"\(pts.joined(separator: " "))\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/>\n"
        }
        for p in frontPoints { s += "<circle cx=\"\(f(px(p.0)))\" cy=\"\(f(py(p.1)))\" r=\"4\" fill=\"#1f77b4\"/>\n" }
        if let b = best, let v = axis.value(b) {
            s += "<circle cx=\"\(f(px(v)))\" cy=\"\(f(py(b.score)))\" r=\"7\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\"/>\n"
        }
        return s
    }

    static func f(_ v: Double) -> String { String(format: "%.1f", v) }

    static func escape(_ t: String) -> String {
        t.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}

/// A count in readable units: 3.0 M, 812 K, 950.
public func readableCount(_ v: Double) -> String {
    let a = abs(v)
    if a >= 1e9 { return String(format: "%.2f G", v / 1e9) }
    if a >= 1e6 { return String(format: a >= 1e7 ? "%.1f M" : "%.2f M", v / 1e6) }
    if a >= 1e3 { return String(format: "%.1f K", v / 1e3) }
    return String(format: "%.0f", v)
}
