# Renders terraform/examples/aws/inventory.yaml.tftpl with sample instances, so the
# inventory template is evaluated by OpenTofu itself (no provider needed); terraform-checks
# then reads the result as YAML and checks its groups and hosts.
terraform {
  required_version = ">= 1.6.0"
}

variable "mirror_decapsulation" {
  type    = string
  default = "sensor"
}

locals {
  instance = { name = "x", id = "i-0", private_ip = "10.0.0.1", network_interface_id = "eni-0" }
}

output "inventory" {
  value = templatefile("${path.module}/../../../terraform/examples/aws/inventory.yaml.tftpl", {
    mirror_decapsulation = var.mirror_decapsulation
    groups = {
      elasticsearch = [for i in range(3) : merge(local.instance, { name = "es-${i + 1}", private_ip = "10.40.100.${10 + i}" })]
      kibana        = [merge(local.instance, { name = "kibana-1", private_ip = "10.40.100.20" })]
      logstash      = [merge(local.instance, { name = "logstash-1", private_ip = "10.40.100.30" })]
      kafka         = []
      sensors       = [for i in range(2) : merge(local.instance, { name = "sensor-${i + 1}", private_ip = "10.40.101.${40 + i}" })]
    }
  })
}
