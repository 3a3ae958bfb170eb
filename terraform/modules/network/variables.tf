variable "name" {
  description = "Prefix of every resource name and the Name tag."
  type        = string
}

variable "cidr_block" {
  description = "IPv4 CIDR of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  description = "Availability zones to spread the subnets over (one public and one private subnet each)."
  type        = list(string)
  validation {
    condition     = length(var.availability_zones) >= 1
    error_message = "Give at least one availability zone."
  }
}

variable "flow_log_retention_days" {
  description = "Days the VPC flow logs are kept in CloudWatch Logs."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
