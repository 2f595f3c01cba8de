"""Quality control and releases: agreement, aggregation, adjudication, dataset exports."""
