import Foundation

// Double math re-exported for test targets that import no Foundation.
public func exp(_ x: Double) -> Double { Foundation.exp(x) }
public func log(_ x: Double) -> Double { Foundation.log(x) }
