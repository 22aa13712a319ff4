"""The pure core of Escalade: policy model, rules, ladders and clocks. No I/O here."""
