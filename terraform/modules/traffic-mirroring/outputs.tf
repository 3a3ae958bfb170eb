output "target_ids" {
  description = "Mirror target IDs, one per sensor interface."
  value       = aws_ec2_traffic_mirror_target.sensor[*].id
}

output "filter_id" {
  description = "ID of the shared mirror filter."
  value       = aws_ec2_traffic_mirror_filter.this.id
}

output "session_ids" {
  description = "Mirror session IDs, one per source interface."
  value       = aws_ec2_traffic_mirror_session.this[*].id
}
