/// NSGA-II building blocks on (score to maximise, cost to minimise) points.
public enum Pareto {
    /// a dominates b: no worse on both axes and better on one.
    public static func dominates(_ a: (score: Double, cost: Double), _ b: (score: Double, cost: Double)) -> Bool {
        a.score >= b.score && a.cost <= b.cost && (a.score > b.score || a.cost < b.cost)
    }

    /// Fronts of indices: front 0 is non-dominated, front 1 is non-dominated once front 0
    /// is removed, and so on (fast non-dominated sort).
    public static func fronts(_ points: [(score: Double, cost: Double)]) -> [[Int]] {
        let n = points.count
        var dominatedBy = [Int](repeating: 0, count: n)
        var dominates = [[Int]](repeating: [], count: n)
        for i in 0..<n {
            for j in 0..<n where i != j {
                if Self.dominates(points[i], points[j]) { dominates[i].append(j) } else if Self.dominates(points[j], points[i]) { dominatedBy[i] += 1 }
            }
        }
        var fronts: [[Int]] = []
        var current = (0..<n).filter { dominatedBy[$0] == 0 }
        while !current.isEmpty {
            fronts.append(current)
            var next: [Int] = []
            for i in current {
                for j in dominates[i] {
                    dominatedBy[j] -= 1
                    if dominatedBy[j] == 0 { next.append(j) }
                }
            }
            current = next.sorted()
        }
        return fronts
    }

    /// Crowding distance of each member of one front (infinite at the extremes).
    public static func crowding(_ points: [(score: Double, cost: Double)], front: [Int]) -> [Int: Double] {
        var d = [Int: Double]()
        for i in front { d[i] = 0 }
        guard front.count > 2 else {
            for i in front { d[i] = .infinity }
            return d
        }
        for axis in 0..<2 {
            let value: (Int) -> Double = { axis == 0 ? points[$0].score : points[$0].cost }
            let sorted = front.sorted { value($0) < value($1) || (value($0) == value($1) && $0 < $1) }
            let span = value(sorted.last!) - value(sorted.first!)
            d[sorted.first!] = .infinity
            d[sorted.last!] = .infinity
            guard span > 0 else { continue }
            for k in 1..<(sorted.count - 1) {
                d[sorted[k]]! += (value(sorted[k + 1]) - value(sorted[k - 1])) / span
            }
        }
        return d
    }

    /// Indices ordered by NSGA-II preference: lower front first, then larger crowding
    /// distance, then index (deterministic).
    public static func ranked(_ points: [(score: Double, cost: Double)]) -> [Int] {
        var order: [Int] = []
        for front in fronts(points) {
            let c = crowding(points, front: front)
            order += front.sorted { (c[$0]!, -$0) > (c[$1]!, -$1) }
        }
        return order
    }
}
