output "ids" {
  description = "Security group ID by role: elasticsearch, kibana, logstash, kafka, sensor."
  value       = { for role, group in aws_security_group.this : role => group.id }
}
