output "instances" {
  description = "The instances: name, id, private IP and primary network interface."
  value = [for instance in aws_instance.this : {
    name                 = instance.tags["Name"]
    id                   = instance.id
    private_ip           = instance.private_ip
    network_interface_id = instance.primary_network_interface_id
  }]
}
