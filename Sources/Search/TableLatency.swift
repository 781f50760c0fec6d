import Spaces

extension LatencyTable: LatencyModel {
    /// Every signature of the table's space is measured, so a miss is a table/space mismatch,
    /// caught when the search starts (see `checkCovers`).
    public func latencyMs(_ arch: Architecture) -> Double { predictMs(arch) ?? .infinity }

    /// Throws unless the table was measured for exactly this space.
    public func checkCovers(_ other: SearchSpace, path: String) throws {
        guard other == space else {
            throw SearchError.latencyTableForOtherSpace(path: path, tableSpace: space.name, space: other.name)
        }
    }
}
