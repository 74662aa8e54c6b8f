"""People in the loop: escalations, the operators' inbox, takeover."""
