"""Reading files safely: bounded reads, image headers, decoding to the model's input, shipped folders."""
