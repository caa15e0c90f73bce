"""Example strategies: ``crossover:SmaCrossover`` (trend following on bars) and
``quoting:TwoSidedQuoter`` (two-sided quoting on quotes, like the shadow market-making loop)."""
